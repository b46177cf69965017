"""FFTs: a global coupling; every element depends on the whole transformed axes (infinite
extent), and the axes become Fourier axes until the inverse transform.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from jax import lax

from archinspect.analysis.receptive_field.rules.reductions import reduce_table
from archinspect.analysis.receptive_field.rules.registry import (
    Context,
    out_shape,
    rule,
)
from archinspect.analysis.receptive_field.rules.tables import (
    COORD,
    INF,
    Tag,
    Val,
    each,
)


@rule(lax.fft_p)
def _fft(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v = ins[0]
    k = len(eqn.params["fft_lengths"])
    axes = tuple(range(v.ndim - k, v.ndim))
    kind_name = getattr(eqn.params["fft_type"], "name", str(eqn.params["fft_type"]))
    inverse = "I" in kind_name.upper().replace("FFT", "")  # IFFT, IRFFT
    spatial: set[int] = set()
    for a in axes:
        tag = v.tags[a]
        if tag is not None and v.shape[a] > 1:
            spatial |= tag.axes
    spatial = {s for s in spatial if v.nonempty(s)}
    if spatial:
        ctx.record_global("fft")
    tags = list(v.tags)
    for a in axes:
        tag = tags[a]
        if tag is not None:
            tags[a] = Tag(tag.axes, tag.slope, tag.offset, freq=not inverse)
    lo_hi = {}
    for s in spatial:
        has = reduce_table(v.lo[s], "lo", axes, True) <= reduce_table(v.hi[s], "hi", axes, True)
        lo_hi[s] = (np.where(has, -INF, INF).astype(COORD), np.where(has, INF, -INF).astype(COORD))

    def transform(x: np.ndarray, kind: str, s: int) -> np.ndarray:
        if s in lo_hi and kind in ("lo", "hi"):
            return lo_hi[s][0 if kind == "lo" else 1]
        return reduce_table(x, kind, axes, keepdims=True)

    return [each(v, out_shape(eqn), tags, transform)]
