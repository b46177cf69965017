"""Sizes XLA can represent, checked before a program is lowered.

XLA computes an array's size in bytes in signed 64-bit arithmetic. A value of 2**63 bytes or
more (a 10**9-wide conv weight: 10**9 x 10**9 x 3 float32s) does not raise a Python error: the
process aborts in C++ ("overflow in static extent product"), with no message archinspect could
turn into an exit code. So every value of a traced program is measured first, exactly, with
Python integers, and one past the limit is refused, naming it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from archinspect.analysis.jaxprs import walk
from archinspect.errors import ArchinspectError

# Half of what signed 64-bit arithmetic holds: a margin for the sizes XLA derives from a value
# (a batch axis added, padding, a buffer twice as large); 4.6 exabytes fits no machine anyway.
LIMIT_BYTES = 2**62


def nbytes(aval: Any) -> int | None:
    shape = getattr(aval, "shape", None)
    dtype = getattr(aval, "dtype", None)
    if shape is None or dtype is None:
        return None
    try:
        itemsize = np.dtype(dtype).itemsize
    except TypeError:  # extended dtypes (PRNG keys): small, never the culprit
        return None
    return math.prod(int(d) for d in shape) * itemsize


def largest_value(jaxpr: Any, names: list[str] | None = None) -> tuple[int, Any, str]:
    """(bytes, aval, where) of the largest value of a jaxpr: its inputs (named by `names`, one
    per input, when given) and every equation's outputs, inside calls and loops too. `where`
    names the input, or the primitive and its module path."""
    best: list[Any] = [0, None, "an input of the program"]

    def consider(aval: Any, where: str) -> None:
        size = nbytes(aval)
        if size is not None and size > best[0]:
            best[:] = [size, aval, where]

    for i, var in enumerate(jaxpr.invars):
        named = names is not None and i < len(names)
        consider(var.aval, names[i] if named else "an input of the program")  # type: ignore[index]

    def visit(eqn: Any) -> None:
        scope = str(getattr(eqn.source_info, "name_stack", "") or "")
        where = f"the output of {eqn.primitive.name}" + (f" in {scope}" if scope else "")
        for var in eqn.outvars:
            consider(var.aval, where)

    walk(jaxpr, visit)
    return best[0], best[1], best[2]


def check_extents(
    jaxpr: Any, what: str, source: str | None = None, names: list[str] | None = None
) -> None:
    """Refuse (exit 2) a program holding a value of LIMIT_BYTES or more, before XLA sees it."""
    size, aval, where = largest_value(jaxpr, names)
    if size < LIMIT_BYTES:
        return
    shape = "x".join(str(int(d)) for d in aval.shape)
    prefix = f"error: {source}: " if source else "error: "
    raise ArchinspectError(
        f"{prefix}cannot lower the {what}: {where} is a {np.dtype(aval.dtype).name} "
        f"array of shape {shape}, {size:.3e} bytes, beyond what XLA can address (2^62 bytes "
        "here; its sizes are 64-bit integers). Lower the widths or the resolution for FLOPs "
        "and memory; `count` and `shapes` need no program and work at this size."
    )
