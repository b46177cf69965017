"""Tiling: `tile` repeats an array along its axes, a concatenation of copies of it.

Cell j of a tiled axis n long reads cell j mod n. As in a concatenation, the first copy
continues the axis's coordinates; the repeats are copies wrapped round from the far end (how
`jnp.tile` followed by a slice builds periodic padding), so along a spatial axis they are a
boundary (tainted), never measured as a stencil.
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

        out = each(out, shape, out.tags, repeat)
        tag = out.tags[a]
        if tag is not None and tag.mapped:
            out = mark_taint(out, tag.axes, a, np.arange(n * reps) >= n)
    return [out]
