"""Models whose constructor cannot be traced abstractly, built concretely within --max-memory
(README "Constructors that need concrete values").

A constructor that calls `.tolist()`, `bool()` or `int()` on an array it computed cannot run
under `eqx.filter_eval_shape`: the array is a tracer. Such a model is built for real, but
only after its size is known, and its size is only known by building it: nothing before the
failing line can be replayed abstractly (the jaxpr up to the failure is not available), and a
guess from the arguments would be a silent guess. So a child process builds it first, its
address space capped (RLIMIT_AS) at what it held after importing JAX plus --max-memory, and
reports the bytes of the model's arrays; it dies or fails to allocate instead of taking the
machine when the build needs more. Only when the child finished and the arrays fit is the
model built here, and its arrays are replaced by their shapes at once.

The cap is on address space, not on resident memory: allocators and new threads reserve
address space they may never touch, so a build close to the limit can be refused although its
arrays would fit. That errs on the side of refusing; the message says to raise --max-memory.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import traceback
from collections.abc import Iterable
from typing import Any

from archinspect.errors import BuildError
from archinspect.spec.model import Spec

# Exit statuses of the child (archinspect.build.probe).
FITS, OVER, FAILED = 0, 3, 4


def untraceable() -> tuple[type[Exception], ...]:
    """What a constructor raises when it needs a concrete value from a traced array."""
    import jax

    errors = jax.errors
    return (
        errors.ConcretizationTypeError,
        errors.TracerBoolConversionError,
        errors.TracerIntegerConversionError,
        errors.TracerArrayConversionError,
    )


def where(exc: BaseException) -> str:
    """'file.py:12' of the innermost frame outside JAX and Equinox: the line that needed the
    concrete value."""
    frames = traceback.extract_tb(exc.__traceback__)
    skip = (f"{os.sep}jax{os.sep}", f"{os.sep}jaxlib{os.sep}", f"{os.sep}equinox{os.sep}")
    own = [f for f in frames if not any(s in f.filename for s in skip)]
    if not own:
        return ""
    frame = own[-1]
    return f" at {os.path.basename(frame.filename)}:{frame.lineno}"


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]


def size_text(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}"
    return f"{n} bytes"


def _imported(spec: Spec) -> tuple[str, str | None, list[str]] | None:
    """(name, origin, search locations) of the target's top-level package as this process
    imported it (after its trust checks), for the child to import from the same place."""
    if spec.target is None:
        return None
    name = re.split(r"[.:]", spec.target)[0]
    module = sys.modules.get(name)
    found = getattr(module, "__spec__", None)
    if found is None:
        return None
    return name, found.origin, list(found.submodule_search_locations or [])


def measure_in_child(spec: Spec, trusted: Iterable[str], max_memory: int) -> tuple[int, str]:
    """(status, detail) of building the spec's model concretely in a capped child process:
    FITS and the arrays' bytes, OVER and why, or FAILED and the constructor's error."""
    env = dict(os.environ)
    env["JAX_PLATFORMS"] = "cpu"  # the build's size, not a device's, is measured
    # Isolated (-I: no working directory or PYTHONPATH on its path, so nothing there shadows
    # archinspect), the child then takes this process's sys.path: the target resolves to the
    # same file, and the trust checks (archinspect.build.locations) decide as they did here.
    payload = pickle.dumps((spec, tuple(trusted), max_memory, list(sys.path), _imported(spec)))
    run = subprocess.run(
        [sys.executable, "-I", "-m", "archinspect.build.probe"],
        input=payload,
        capture_output=True,
        env=env,
        check=False,
    )
    text = run.stdout.decode(errors="replace").strip()
    if run.returncode == FITS:
        try:
            return FITS, str(int(json.loads(text)["bytes"]))
        except (ValueError, KeyError, TypeError):
            return FAILED, f"the measuring process answered {text[:200]!r}"
    if run.returncode == FAILED:
        return FAILED, text or "the constructor failed"
    if run.returncode == OVER:
        return OVER, text or "an allocation failed at the limit"
    if run.returncode < 0:  # killed, or aborted by XLA on a failed allocation: the cap was met
        return OVER, f"the build was stopped at the limit (signal {-run.returncode})"
    errors = run.stderr.decode(errors="replace").strip().splitlines()
    return FAILED, f"the measuring process failed: {errors[-1] if errors else run.returncode}"


def build_concrete(
    spec: Spec,
    trusted: Iterable[str],
    construct: Any,
    exc: BaseException,
    max_memory: int,
) -> tuple[Any, str]:
    """The model built concretely by `construct()`, its arrays replaced by their shapes, and
    the note that says so; a BuildError (one paragraph) when it does not fit or fails."""
    import equinox as eqx
    import jax

    what = spec.target or spec.family
    why = f"{type(exc).__name__}{where(exc)}: {first_line(exc)}"
    status, detail = measure_in_child(spec, trusted, max_memory)
    if status == FITS and int(detail) > max_memory:
        status, detail = OVER, f"its arrays take {size_text(int(detail))}"
    if status == OVER:
        raise BuildError(
            f"error: {spec.source}: cannot build {what}: its constructor cannot be traced "
            f"abstractly ({why}), and building it concretely needs more than --max-memory "
            f"{size_text(max_memory)} ({detail}). Raise --max-memory if this machine has the "
            "room, or make the constructor traceable (no .tolist(), bool() or int() on arrays "
            "it computes)."
        )
    if status == FAILED:
        raise BuildError(
            f"error: {spec.source}: cannot build {what}: its constructor cannot be traced "
            f"abstractly ({why}), and building it concretely failed too: {detail}"
        )
    model = jax.tree_util.tree_map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype) if eqx.is_array(a) else a, construct()
    )
    note = (
        f"{what} was built concretely (its constructor cannot be traced abstractly: {why}); "
        f"its arrays take {size_text(int(detail))}, within --max-memory {size_text(max_memory)}"
    )
    return model, note
