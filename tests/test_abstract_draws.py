"""An abstract build makes its weights' shapes without tracing the random draws
(archinspect/layers/draws.py, README "Performance"): the same tree, shapes and dtypes as the
build that traces the draws; builds that make real weights still draw them."""

from __future__ import annotations

import contextlib

import jax
import numpy as np
import pytest

from archinspect.build import build_abstract
from archinspect.layers import conv as conv_mod
from archinspect.layers import draws
from archinspect.spec import load_spec, load_spec_text
from tests.conftest import slow_after

pytestmark = pytest.mark.usefixtures("repo_root")

KEY = jax.random.PRNGKey(0)
# float64 weights: a `target:` built in JAX's 64-bit mode (the families take float32 only)
F64_CONVNET = (
    "model:\n  target: archinspect.models.conv_net.ConvNet\n  num_spatial_dims: 1\n"
    "  in_channels: 1\n  out_channels: 1\n  depth: 2\ninput:\n  resolution: [16]\n"
    "  dtype: float64\n"
)


def _signature(model: object) -> tuple[object, list[tuple[str, object]]]:
    """The tree (static fields included) and every leaf's path with, for an array, its shape,
    dtype and weak type (for anything else, e.g. a dropout rate, its value)."""
    leaves, tree = jax.tree_util.tree_flatten_with_path(model)
    out: list[tuple[str, object]] = []
    for path, leaf in leaves:
        if isinstance(leaf, jax.ShapeDtypeStruct):
            described: object = (leaf.shape, str(leaf.dtype), leaf.weak_type)
        else:
            described = leaf
        out.append((jax.tree_util.keystr(path), described))
    return tree, out


# Every conv class that draws through conv_weights (Conv, UpConv, the Sequential stack's Conv,
# the TCN's), groups, dilation, 1-, 2- and 3-D, and float64 weights (JAX's 64-bit mode).
CASES = slow_after(
    [
        ("configs/unet.yaml", []),
        ("configs/textbook_conv2d.yaml", []),
        (F64_CONVNET, []),
        ("configs/tcn.yaml", []),
        ("configs/unet.yaml", ["model.num_spatial_dims=3", "input.resolution=[16,16,16]"]),
        ("configs/conv_knobs.yaml", []),
        ("configs/upsample.yaml", []),
        ("configs/modern_unet.yaml", []),
    ],
    keep=4,
)


@pytest.mark.parametrize(("path", "overrides"), CASES)
def test_shapes_only_build_equals_the_build_that_traces_the_draws(
    path: str, overrides: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = load_spec_text(path, "f64.yaml") if path == F64_CONVNET else load_spec(path, overrides)
    fast = _signature(build_abstract(spec))
    # The oracle: the same build with the flag never set, so every draw is traced.
    monkeypatch.setattr(draws, "only_shapes", contextlib.nullcontext)
    traced = _signature(build_abstract(spec))
    assert fast[0] == traced[0]
    assert fast[1] == traced[1]
    assert any(isinstance(d, tuple) for _, d in fast[1])  # the model has weights
    if path == F64_CONVNET:
        # 3 convs (1 -> 16 -> 16 -> 1), a weight and a bias each, all float64
        assert [d[1] for _, d in fast[1]] == ["float64"] * 6  # type: ignore[index]


@pytest.mark.parametrize("x64", [False, True])
@pytest.mark.parametrize(
    ("c_in", "c_out", "kernel", "groups", "use_bias"),
    [(3, 4, (5,), 1, True), (6, 4, (3, 2), 2, False), (2, 8, (3, 3, 3), 2, True)],
)
def test_weight_shapes_are_those_of_the_draws(c_in, c_out, kernel, groups, use_bias, x64):
    def made(fn):
        return jax.eval_shape(
            lambda k: fn(k, c_in, c_out, kernel, groups=groups, use_bias=use_bias), KEY
        )

    with jax.enable_x64(x64):
        shapes, drawn = made(conv_mod._weight_shapes), made(conv_mod._weight_draws)
    assert shapes == drawn
    weight, bias = shapes
    # weight (out, in / groups, *kernel), bias (out, 1, ..., 1)
    assert weight.shape == (c_out, c_in // groups, *kernel)
    assert bias is None if not use_bias else bias.shape == (c_out,) + (1,) * len(kernel)
    assert weight.dtype == np.dtype("float64" if x64 else "float32")


def test_the_abstract_build_traces_no_draw(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, ...]] = []
    real = conv_mod._init

    def init(key, shape, fan_in):
        seen.append(shape)
        return real(key, shape, fan_in)

    monkeypatch.setattr(conv_mod, "_init", init)
    conv_mod._weight_draws.clear_cache()
    conv_mod._weight_shapes.clear_cache()
    build_abstract(load_spec("configs/unet.yaml"))
    assert seen == []
    # the oracle that the counter counts: the same build with the flag off draws every weight
    monkeypatch.setattr(draws, "only_shapes", contextlib.nullcontext)
    build_abstract(load_spec("configs/unet.yaml"))
    assert len(seen) > 0


def _primitives(jaxpr: jax.extend.core.ClosedJaxpr) -> set[str]:
    """The primitives of a program and of every program inside it."""
    out: set[str] = set()
    for eqn in jaxpr.jaxpr.eqns:
        out.add(eqn.primitive.name)
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            out |= _primitives(jax.extend.core.ClosedJaxpr(sub, ()))
    return out


def test_draws_traced_after_shapes_for_the_same_arguments_are_real_draws() -> None:
    def program():
        return jax.make_jaxpr(lambda k: conv_mod.conv_weights(k, 3, 4, (5,)))(KEY)

    # Shapes first, for the same arguments (a jit trace is cached by its arguments alone) ...
    with draws.only_shapes():
        assert draws.shapes_only()
        shaped = _primitives(program())
    assert not draws.shapes_only()
    # ... then the draws: the random bits are in the program, and in that one only.
    drawn = _primitives(program())
    assert "random_bits" in drawn or "threefry2x32" in drawn, drawn
    assert not {"random_bits", "threefry2x32"} & shaped, shaped


def test_only_the_abstract_build_is_shapes_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # What conv_weights is asked for, as it is asked: numpy zeros come back (nothing compiled).
    flags: list[bool] = []

    def conv_weights(key, in_channels, out_channels, kernel_size, *, groups=1, use_bias=True):
        flags.append(draws.shapes_only())
        weight = np.zeros((out_channels, in_channels // groups, *kernel_size), np.float32)
        return weight, np.zeros((out_channels,) + (1,) * len(kernel_size), np.float32)

    monkeypatch.setattr(conv_mod, "conv_weights", conv_weights)
    spec = load_spec("configs/convnet.yaml", ["model.depth=1"])  # 2 convs
    build_abstract(spec)
    assert flags == [True, True]
    flags.clear()
    # `archinspect init` builds with real_seed: its weights are drawn, never shaped.
    build_abstract(spec, real_seed=0)
    assert flags == [False, False]
