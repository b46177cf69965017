"""Deep stencil networks (README, "Deep models"): the structural receptive field stays exact, and
the memory of its dependency tables does not grow with the depth: each value's tables are
dropped after their last use, and a module's output is kept only as a small survey of its
measured cells, and only when per-layer fields are asked for."""

from __future__ import annotations

import gc
import tracemalloc

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from archinspect.analysis.receptive_field import receptive_fields
from archinspect.analysis.receptive_field.rules.windowed import _reads
from archinspect.analysis.receptive_field.structural import _Cells, _uncovered, interpret, trace
from archinspect.models.conv_net import ConvNet


def _convnet(depth: int, kernel_size: int = 3, hidden_channels: int = 2) -> ConvNet:
    """Abstract (no weight allocated), as the commands build it."""
    return eqx.filter_eval_shape(
        ConvNet,
        1,
        1,
        1,
        hidden_channels=hidden_channels,
        depth=depth,
        kernel_size=kernel_size,
        key=jax.random.PRNGKey(0),
    )


def _jacobian_extent(model: ConvNet, n: int) -> tuple[int, int]:
    """The oracle: (back, forward) of the middle output cell, read off the support of its
    gradient, in float64 with every weight and input cell 1: every path adds a positive term,
    so no dependency cancels (ReLU passes positives unchanged) or underflows."""
    with jax.enable_x64(True):
        ones = jax.tree_util.tree_map(
            lambda w: jnp.ones(w.shape, jnp.float64) if isinstance(w, jax.ShapeDtypeStruct) else w,
            model,
        )
        q = n // 2
        grad = jax.grad(lambda x: ones(x)[0, q])(jnp.ones((1, n), jnp.float64))
        cells = np.flatnonzero(np.asarray(grad[0]) != 0)
    return q - int(cells.min()), int(cells.max()) - q


def test_deep_convnet_field_and_every_layer_field_are_exact():
    depth, k = 200, 3
    model = _convnet(depth, k)
    # depth + 1 convolutions of k taps, each reaching (k - 1) / 2 = 1 cell either way.
    field = (depth + 1) * (k - 1) // 2
    assert field == 201
    network, layers = receptive_fields(model, (1, 256))
    assert network.per_axis == ((field, field),)
    # The field is wider than the requested 256 cells: the analysis grew past it.
    assert network.analysed_shape[1] > 2 * field
    assert _jacobian_extent(model, 512) == (field, field)
    # layers[i] is the (i + 1)-th convolution: (i + 1) cells either way.
    assert len(layers) == depth + 2  # every conv, and the whole model ("")
    for i in range(depth + 1):
        assert layers[f"layers[{i}]"] == ((i + 1, i + 1),), i
    assert layers[""] == ((field, field),)


def _peak_bytes(closed, calls, cells: int, layers: bool) -> int:
    """Peak bytes NumPy and Python allocate while interpreting a traced ConvNet on `cells`
    cells (the trace itself is outside the measurement; so are cached windows)."""
    _reads.cache_clear()
    gc.collect()
    gc.disable()  # no collection at an arbitrary point: tables must go by reference counts
    tracemalloc.start()
    try:
        result = interpret(closed, calls, (1, cells), layers)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        gc.enable()
    assert bool(result.marks) == layers
    return peak


def test_table_memory_does_not_grow_with_depth():
    cells = 1 << 15
    table = cells * np.dtype(np.float32).itemsize  # one lo or hi table of one value: 128 KiB
    peaks = {}
    for depth in (40, 120):
        closed, calls = trace(_convnet(depth), (1, cells))
        for layers in (False, True):
            peaks[depth, layers] = _peak_bytes(closed, calls, cells, layers)
    for layers in (False, True):
        extra = peaks[120, layers] - peaks[40, layers]
        # Keeping the lo and hi tables of each of the 80 extra layers would add 160 tables
        # (20 MiB); what may grow is bookkeeping per equation and a small survey per layer.
        assert extra < 10 * table, (layers, peaks)


def test_a_survey_keeps_what_the_phase_check_reads():
    """A survey stores the measured cells as runs (one varying axis) or packed bits; the phase
    check read off either must be `_uncovered` on the whole table, for any period."""
    rng = np.random.default_rng(0)
    seen = set()
    for trial in range(300):
        channels, n, m = int(rng.integers(1, 4)), int(rng.integers(1, 40)), int(rng.integers(1, 9))
        two_axes = trial % 2 == 1  # spatial array axes 1 and 2, or axis 1 alone
        shape = (channels, n, m) if two_axes else (channels, n, 1)
        if trial % 3 == 0:  # one interval per line (a stencil network's interior cells)
            q = np.arange(n)[None, :, None]
            lo, hi = sorted(int(i) for i in rng.integers(0, n + 1, 2))
            sel = np.broadcast_to((q >= lo) & (q < hi), shape)
        else:
            sel = rng.random(shape) < rng.choice([0.05, 0.5, 0.95])
        phases = {0: (1, int(rng.integers(0, 12)))}
        if two_axes:
            phases[1] = (2, int(rng.integers(1, 5)))
        keep = {a for a, _ in phases.values()}
        cells = _Cells.of(sel, keep)
        seen.add("runs" if cells.runs is not None else "bits")
        assert np.array_equal(cells.array(), np.any(sel, axis=0, keepdims=True)), trial
        assert cells.uncovered(phases, shape) == _uncovered(sel, phases, shape), trial
    assert seen == {"runs", "bits"}
