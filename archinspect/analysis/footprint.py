"""What a run on real arrays will allocate, estimated on the abstract model before any array
exists: the one estimator of `init`, `equivariance` and the empirical receptive field (README
"Memory limits of real-array commands").

A run holds some copies of the weights (the drawn arrays, the constructor's, those XLA makes
inside a compiled program), some forward passes' worth of values (a batch, gradients, outputs
kept for the backward pass), a transient float64 draw of the largest weight (numpy draws in
float64 before the cast), and the compiled program itself. Each part is an upper bound: nothing
is assumed fused or freed.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

# Compiling and running a program takes memory per equation beyond its buffers (the traced
# jaxprs, XLA's HLO and passes, the executable). Measured on 2026-12-03 (CPU, 2 loaded cores)
# as the peak RSS of `archinspect init configs/deep_relu_convnet.yaml --set model.depth=D` for
# D = 100, 300, 600 (1,411, 4,211 and 8,411 forward equations, nested ones counted): 487, 798
# and 1,326 MB, a slope of 111-126 KiB per forward equation (the forward-and-backward
# program; its real buffers included). The empirical receptive field's programs took about
# 21 KiB per equation (`rf configs/convnet.yaml --method empirical`, depth 100 and 300: 337
# and 395 MB). The bound is the larger slope with a third on top.
PROGRAM_BYTES_PER_EQUATION = 160 << 10


@dataclasses.dataclass(frozen=True)
class Footprint:
    """Bytes a run needs: `weight_copies` x `weights` + `passes` x `values` + `transient` +
    `equations` x PROGRAM_BYTES_PER_EQUATION."""

    weights: int  # one copy of every weight, in the dtype the run stores them
    weight_copies: int
    values: int  # every value one forward pass computes (each equation's outputs)
    passes: int  # forward passes' worth of values alive at once
    transient: int  # the float64 draw of the largest weight
    equations: int  # equations of the forward program, nested ones included

    @property
    def program(self) -> int:
        return self.equations * PROGRAM_BYTES_PER_EQUATION

    @property
    def total(self) -> int:
        return (
            self.weight_copies * self.weights
            + self.passes * self.values
            + self.transient
            + self.program
        )

    def describe(self, passes: str) -> str:
        """The parts, for a refusal: `passes` says what the passes are."""
        return (
            f"{self.weight_copies} × {self.weights:,} bytes of weights, {self.passes} × "
            f"{self.values:,} bytes of values ({passes}), {self.transient:,} bytes to draw the "
            f"largest weight, {self.equations:,} program equations × "
            f"{PROGRAM_BYTES_PER_EQUATION:,} bytes"
        )


def _itemsize(dtype: Any, float64: bool) -> int:
    """Bytes per element; with `float64` a real float counts 8 and a complex one 16 (the
    empirical method's copy), other dtypes their own size."""
    import jax
    import numpy as np

    if jax.dtypes.issubdtype(dtype, jax.dtypes.extended):
        return int(dtype.itemsize)  # a PRNG key (key<fry>: two uint32, 8 bytes), kept as is
    dt = np.dtype(dtype)
    if float64 and (dt.kind in "fc" or dt.name == "bfloat16"):
        return 16 if dt.kind == "c" else 8
    return dt.itemsize


def weight_bytes(model: Any, *, float64: bool = False) -> tuple[int, int]:
    """(bytes of every array leaf, float64 bytes of the largest one: 8 per element, 16 if it
    is complex), real or abstract leaves alike."""
    import jax

    from archinspect.analysis.params import is_array_like

    total = largest = 0
    for leaf in jax.tree_util.tree_leaves(model, is_leaf=is_array_like):
        if not is_array_like(leaf):
            continue
        n = math.prod(int(d) for d in leaf.shape)
        total += n * _itemsize(leaf.dtype, float64)
        largest = max(largest, n * _itemsize(leaf.dtype, True))
    return total, largest


def program_sizes(closed: Any, *, float64: bool = False) -> tuple[int, int]:
    """(bytes of every value the program computes, its equations), nested jaxprs included. A
    call's outputs are its body's values (`jaxprs.CALLS`): counted inside it, not twice (an
    activation under `jax.jit` whose body is an identity computes nothing)."""
    from archinspect.analysis.jaxprs import CALLS, walk

    values = equations = 0

    def visit(eqn: Any) -> None:
        nonlocal values, equations
        equations += 1
        if eqn.primitive.name in CALLS:
            return
        for v in eqn.outvars:
            aval = v.aval
            if hasattr(aval, "shape") and hasattr(aval, "dtype"):
                n = math.prod(int(d) for d in aval.shape)
                values += n * _itemsize(aval.dtype, float64)

    walk(closed.jaxpr, visit)
    return values, equations


def forward_program(model: Any, input_shape: tuple[int, ...], dtype: Any) -> tuple[Any, int]:
    """The model's forward program on one input, traced abstractly (nothing allocated), and the
    bytes of one pass's input and module outputs (each outermost leaf call's outputs, in their
    dtypes: the values a pass keeps between modules)."""
    import equinox as eqx
    import jax
    import numpy as np

    from archinspect.analysis.recorder import ShapeTap, recording

    calls: list[Any] = []

    def forward(m: Any, v: Any) -> Any:
        with recording(m, [ShapeTap(calls)]):
            return m(v)

    x = jax.ShapeDtypeStruct(input_shape, np.dtype(dtype))
    closed = eqx.filter_make_jaxpr(forward)(model, x)[0]
    paths = [c.path for c in calls]
    per_pass = math.prod(input_shape) * np.dtype(dtype).itemsize
    for call in calls:
        if any(p != call.path and _below(p, call.path) for p in paths):
            continue  # counted through its submodules
        for shape, dt in zip(call.output_shapes, call.output_dtypes, strict=True):
            per_pass += math.prod(shape) * np.dtype(dt).itemsize
    return closed, per_pass


def _below(path: str, root: str) -> bool:
    return root == "" or path.startswith((root + ".", root + "["))


def footprint(
    model: Any,
    closed: Any,
    *,
    weight_copies: int,
    passes: int,
    draws: int,
    values: int | None = None,
    input_bytes: int = 0,
    float64: bool = False,
) -> Footprint:
    """The footprint of a run on `model` whose forward program is `closed`: `passes` forward
    passes of `values` bytes (default: every value the program computes, plus `input_bytes`),
    and `draws` float64 arrays the size of the largest weight alive while it is drawn."""
    weights, largest = weight_bytes(model, float64=float64)
    every, equations = program_sizes(closed, float64=float64)
    return Footprint(
        weights=weights,
        weight_copies=weight_copies,
        values=every + input_bytes if values is None else values,
        passes=passes,
        transient=draws * largest,
        equations=equations,
    )
