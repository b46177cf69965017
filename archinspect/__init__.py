"""archinspect: exact, abstract architecture inspection for JAX/Equinox networks.

The public API is re-exported lazily, so `import archinspect` (and `archinspect --help`) never
imports JAX.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "count": "archinspect.api",
    "shapes": "archinspect.api",
    "receptive_field": "archinspect.api",
    "inspect": "archinspect.api",
    "diff": "archinspect.api",
    "load_spec": "archinspect.spec.load",
    "load_spec_text": "archinspect.spec.load",
    "Spec": "archinspect.spec.model",
    "InputSpec": "archinspect.spec.model",
    "build_abstract": "archinspect.build",
    "count_params": "archinspect.analysis.params",
    "count_report": "archinspect.commands.count",
    "ArchinspectError": "archinspect.errors",
    "SpecError": "archinspect.errors",
    "FAMILIES": "archinspect.families",
    "ArgumentError": "archinspect.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'archinspect' has no attribute {name!r}")
