"""`target:` models: import an Equinox module (or a function returning one) by path, safely.

Importing runs code, so the top-level package must be trusted before anything is imported:
archinspect, equinox and pdequinox by default, more only with `--trust PKG` on the command line
(never from the YAML file, so a changed config in a pull request cannot run new code in CI), and
it must be found where it is installed, not in the checkout (`archinspect.build.locations`).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable
from typing import Any

from archinspect.errors import ArchinspectError, TrustError

DEFAULT_TRUSTED: tuple[str, ...] = ("archinspect", "equinox", "pdequinox")


def split_target(target: str) -> tuple[str, str]:
    """'pkg.mod.Attr' or 'pkg.mod:Attr' -> ('pkg.mod', 'Attr')."""
    if ":" in target:
        module, _, attr = target.partition(":")
    else:
        module, _, attr = target.rpartition(".")
    return module, attr


def check_trusted(target: str, trusted: Iterable[str], source: str) -> None:
    package = re.split(r"[.:]", target)[0]
    allowed = tuple(dict.fromkeys((*DEFAULT_TRUSTED, *trusted)))
    if package not in allowed:
        raise TrustError(
            f"error: {source}: model.target {target!r} is not trusted: importing it would run "
            f"code from package {package!r}, which is not in the trust list "
            f"({', '.join(allowed)}). If you trust it, pass --trust {package} on the command "
            "line (the spec file cannot extend the trust list)."
        )


def check_not_a_program(target: str, source: str) -> None:
    """A `__main__` module is a program, not a library: importing `archinspect.__main__` runs
    the whole CLI again inside the import. Refused before anything is imported."""
    module, _ = split_target(target)
    if "__main__" in module.split("."):
        raise TrustError(
            f"error: {source}: model.target {target!r} names the module {module!r}, a program's "
            "entry point: importing it would run that program, not define a model. Point "
            "model.target at the module that defines the model."
        )


def load_target(target: str, trusted: Iterable[str], source: str) -> Callable[..., Any]:
    """Import the target after the checks (no program, trusted, found where it is installed:
    `archinspect.build.locations`); it must be a callable."""
    from archinspect.build.locations import check_location

    check_not_a_program(target, source)
    check_trusted(target, trusted, source)
    check_location(re.split(r"[.:]", target)[0], target, source)
    module_name, attr = split_target(target)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if (exc.name or "").split(".")[0] == "flax":
            from archinspect.build.flax import MISSING_FLAX

            raise ArchinspectError(
                f"error: {source}: model.target {target!r} is a Flax model: {MISSING_FLAX}"
            ) from exc
        raise ArchinspectError(
            f"error: {source}: cannot import {module_name!r} for model.target {target!r}: {exc}"
        ) from exc
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise ArchinspectError(
            f"error: {source}: module {module_name!r} has no attribute {attr!r} "
            f"(model.target {target!r})"
        ) from None
    if not callable(obj):
        raise ArchinspectError(
            f"error: {source}: model.target {target!r} is a {type(obj).__name__}, not an "
            "Equinox module class or a function returning one"
        )
    return obj
