"""The families archinspect knows: one JAX-free declaration per family (see `Family`).

`FAMILIES` maps a name to its declaration, in the order `archinspect families` lists them.
The built-in declarations are collected from the modules below; `register` adds another one
(a test's, or a plug-in's) for the rest of the process, and every command sees it.
"""

from __future__ import annotations

import sys
from typing import Any

from archinspect.families import (
    conv_net,
    dilated_res_net,
    fno,
    group_cnn,
    mlp,
    res_net,
    sequential,
    tcn,
    u_net,
)
from archinspect.families.family import BOUNDARY_MODES, COMMON, Family

__all__ = [
    "BOUNDARY_MODES",
    "COMMON",
    "FAMILIES",
    "Family",
    "class_separable",
    "names",
    "register",
    "separable",
    "unregister",
]

FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    """Make a family known to validation, the schema, `families` and every command."""
    if family.name in FAMILIES:
        raise ValueError(f"a family named {family.name!r} is already registered")
    FAMILIES[family.name] = family
    return family


def unregister(name: str) -> None:
    del FAMILIES[name]


def names() -> tuple[str, ...]:
    return tuple(FAMILIES)


def separable(spec: Any, model: Any) -> bool | None:
    """The declared per-axis separability of a spec's model: its family's; for a `target:`,
    that of the family whose builder or `same_as` class the model is (only modules already
    imported are looked at, so nothing new is imported); None when nothing is declared."""
    if spec.target is None:
        family = FAMILIES.get(spec.family)
        return family.is_separable(spec.args) if family is not None else None
    family = _family_of(type(model))
    return family.is_separable(spec.args) if family is not None else None


def class_separable(model: Any) -> bool | None:
    """The declared separability of a model handed over as an object (the Python API), which
    has no arguments to read: that of the family whose class it is, when the family declares
    it for every argument (a bool, not a function of the arguments); None otherwise."""
    family = _family_of(type(model))
    if family is None or callable(family.separable):
        return None
    return bool(family.separable)


def _family_of(cls: type) -> Family | None:
    for family in FAMILIES.values():
        for path in (family.builder, *family.same_as):
            module, _, attr = path.partition(":")
            if getattr(sys.modules.get(module), attr, None) is cls:
                return family
    return None


for _family in (
    conv_net.FAMILY,
    *res_net.FAMILIES,
    *u_net.FAMILIES,
    fno.FAMILY,
    dilated_res_net.FAMILY,
    mlp.FAMILY,
    tcn.FAMILY,
    sequential.FAMILY,
    group_cnn.FAMILY,
):
    register(_family)
