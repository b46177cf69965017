"""Tiling: `tile` repeats an array along its axes, a concatenation of copies of it.

Cell j of a tiled axis n long reads cell j mod n. As in a concatenation, one copy continues
the axis's coordinates and the others are copies wrapped round from the far end, a boundary
along a spatial axis (tainted), never measured as a stencil. The middle copy is the one that
continues them: tiling three times and slicing one cell beyond the middle copy either side is
how periodic padding is built with `jnp.tile`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from jax import lax

from archinspect.analysis.receptive_field.rules.registry import Context, rule
from archinspect.analysis.receptive_field.rules.tables import Val, each, mark_taint


@rule(lax.tile_p)
def _tile(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    out = ins[0]
    for a, reps in enumerate(int(r) for r in eqn.params["reps"]):
        if reps == 1:
            continue
        n = out.shape[a]
        shape = list(out.shape)
        shape[a] = n * reps

        def repeat(x: np.ndarray, kind: str, s: int, a: int = a, reps: int = reps) -> np.ndarray:
            return x if x.shape[a] == 1 else np.concatenate([x] * reps, axis=a)

        tags = list(out.tags)
        tag = tags[a]
        middle = reps // 2
        if tag is not None and tag.mapped:
            assert tag.slope is not None and tag.offset is not None
            tags[a] = tag.moved(tag.slope, tag.offset - tag.slope * n * middle)
        out = each(out, shape, tags, repeat)
        if tag is not None and tag.mapped:
            cells = np.arange(n * reps)
            out = mark_taint(out, tag.axes, a, (cells < n * middle) | (cells >= n * (middle + 1)))
    return [out]
