"""Spec files: safe YAML with positions, overrides, typed argument kinds, validation into a
`Spec`. Re-exported lazily, so the kinds can be imported by the family declarations that
validation itself reads."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from archinspect.spec.load import load_spec, load_spec_text
    from archinspect.spec.model import InputSpec, Spec

_EXPORTS = {
    "load_spec": "archinspect.spec.load",
    "load_spec_text": "archinspect.spec.load",
    "InputSpec": "archinspect.spec.model",
    "Spec": "archinspect.spec.model",
}

__all__ = ["InputSpec", "Spec", "load_spec", "load_spec_text"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'archinspect.spec' has no attribute {name!r}")
