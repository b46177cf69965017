"""Sequential's conv, conv_transpose and pool layers against flax.nnx and jax.lax.

A seeded grid of several hundred single-layer combinations in 1-, 2- and 3-D, covering every
padding form, strides, both dilations and groups: the output shape and parameter count of
archinspect's layer (archinspect/layers/stack.py, padded by
archinspect/families/conv_arithmetic.py) equal those of `flax.nnx.Conv` /
`flax.nnx.ConvTranspose` and of `jax.lax.conv_general_dilated` / `jax.lax.conv_transpose`
given the knobs as the user wrote them. Everything is abstract (eval_shape): no weights.
"""

from __future__ import annotations

import math
import random

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from archinspect.families import conv_arithmetic as ca
from archinspect.layers import stack as st
from tests.conftest import slow_after

F32 = jnp.float32


def _choose_padding(rng: random.Random, dims: int, transposed: bool) -> object:
    forms = ["SAME", "VALID", "CIRCULAR", "int", "pairs"]
    if not transposed:
        forms.append("REFLECT")
        if dims == 1:
            forms.append("CAUSAL")
    form = rng.choice(forms)
    if form == "int":
        return rng.randint(0, 3)
    if form == "pairs":
        return [[rng.randint(0, 3), rng.randint(0, 3)] for _ in range(dims)]
    return form


def _knob(rng: random.Random, dims: int, hi: int) -> int | list[int]:
    if rng.random() < 0.5:
        return rng.randint(1, hi)
    return [rng.randint(1, hi) for _ in range(dims)]


def _case(seed: int, transposed: bool) -> dict:
    rng = random.Random(seed)
    dims = (1, 2, 3)[seed % 3]
    size_hi = {1: 24, 2: 12, 3: 7}[dims]
    groups = rng.choice([1, 1, 2, 3])
    padding = _choose_padding(rng, dims, transposed)
    case = {
        "dims": dims,
        "spatial": tuple(rng.randint(1, size_hi) for _ in range(dims)),
        "in": groups * rng.randint(1, 3),
        "out": groups * rng.randint(1, 3),
        "groups": groups,
        "kernel_size": _knob(rng, dims, 4),
        "stride": _knob(rng, dims, 3),
        "kernel_dilation": _knob(rng, dims, 3),
        "padding": padding,
        "use_bias": rng.random() < 0.7,
    }
    if not transposed:
        # String paddings need input_dilation 1 (flax and lax refuse others).
        case["input_dilation"] = 1 if isinstance(padding, str) else _knob(rng, dims, 3)
        if padding in ("REFLECT",):
            # numpy-style reflect needs more cells than it pads
            k_eff = ca.effective_kernel(
                ca.per_axis(case["kernel_size"], dims, ""),
                ca.per_axis(case["kernel_dilation"], dims, ""),
            )
            case["spatial"] = tuple(max(n, k) for n, k in zip(case["spatial"], k_eff, strict=True))
    return case


def _tuple(v, n):
    return tuple(v) if isinstance(v, list) else (v,) * n


def _flax_padding(padding, dims):
    if isinstance(padding, list):
        return [tuple(p) for p in padding]
    return padding


def _param_count(module) -> int:
    return sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(nnx.state(module, nnx.Param)))


def _eqx_count(layer) -> int:
    return sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(layer))


def _ours(case: dict, transposed: bool):
    cls = st.ConvTranspose if transposed else st.Conv
    kw = {k: case[k] for k in ("stride", "kernel_dilation", "padding", "groups", "use_bias")}
    if not transposed:
        kw["input_dilation"] = case["input_dilation"]
    layer = eqx.filter_eval_shape(
        lambda: cls(
            case["dims"],
            case["in"],
            case["out"],
            case["kernel_size"],
            **kw,
            key=jax.random.PRNGKey(0),
        )
    )
    x = jax.ShapeDtypeStruct((case["in"], *case["spatial"]), F32)
    return layer, eqx.filter_eval_shape(layer, x).shape[1:]


def _conv_seeds() -> list[int]:
    return list(range(360))


def _transpose_seeds() -> list[int]:
    return list(range(1000, 1240))


@pytest.mark.parametrize("seed", slow_after(_conv_seeds(), 120))
def test_conv_matches_flax_and_lax(seed: int) -> None:
    case = _case(seed, transposed=False)
    dims = case["dims"]
    r = ca.resolve_conv(
        case["spatial"],
        case["kernel_size"],
        case["stride"],
        case["padding"],
        case["kernel_dilation"],
        case["input_dilation"],
    )
    expected_params = case["in"] // case["groups"] * case["out"] * math.prod(
        _tuple(case["kernel_size"], dims)
    ) + (case["out"] if case["use_bias"] else 0)

    def flax_apply(x):
        conv = nnx.Conv(
            case["in"],
            case["out"],
            _tuple(case["kernel_size"], dims),
            strides=case["stride"],
            padding=_flax_padding(case["padding"], dims),
            input_dilation=case["input_dilation"],
            kernel_dilation=case["kernel_dilation"],
            feature_group_count=case["groups"],
            use_bias=case["use_bias"],
            rngs=nnx.Rngs(0),
        )
        return conv(x)

    x_nhwc = jax.ShapeDtypeStruct((1, *case["spatial"], case["in"]), F32)
    if any(n <= 0 for n in r.spatial_out):
        # Our walk reports it; flax either refuses it or gives an empty axis.
        try:
            flax_out = jax.eval_shape(flax_apply, x_nhwc).shape[1:-1]
        except Exception:  # noqa: BLE001 (any refusal is a refusal)
            return
        assert min(flax_out) == 0 and min(r.spatial_out) <= 0
        return
    layer, ours = _ours(case, transposed=False)
    assert ours == r.spatial_out
    assert ours == jax.eval_shape(flax_apply, x_nhwc).shape[1:-1]
    assert _eqx_count(layer) == expected_params
    flax_module = nnx.eval_shape(
        lambda: nnx.Conv(
            case["in"],
            case["out"],
            _tuple(case["kernel_size"], dims),
            feature_group_count=case["groups"],
            use_bias=case["use_bias"],
            rngs=nnx.Rngs(0),
        )
    )
    assert _param_count(flax_module) == expected_params
    # jax.lax with the knobs as written (its own SAME/VALID and explicit pairs)
    if case["padding"] in ("SAME", "VALID") or not isinstance(case["padding"], str):
        pads = case["padding"]
        if isinstance(pads, int):
            pads = [(pads, pads)] * dims
        elif isinstance(pads, list):
            pads = [tuple(p) for p in pads]
        lax_y = jax.eval_shape(
            lambda x, w: jax.lax.conv_general_dilated(
                x,
                w,
                _tuple(case["stride"], dims),
                pads,
                lhs_dilation=_tuple(case["input_dilation"], dims),
                rhs_dilation=_tuple(case["kernel_dilation"], dims),
                feature_group_count=case["groups"],
            ),
            jax.ShapeDtypeStruct((1, case["in"], *case["spatial"]), F32),
            jax.ShapeDtypeStruct(
                (case["out"], case["in"] // case["groups"], *_tuple(case["kernel_size"], dims)),
                F32,
            ),
        )
        assert ours == lax_y.shape[2:]


@pytest.mark.parametrize("seed", slow_after(_transpose_seeds(), 80))
def test_conv_transpose_matches_flax_and_lax(seed: int) -> None:
    case = _case(seed, transposed=True)
    dims = case["dims"]
    r = ca.resolve_conv_transpose(
        case["spatial"],
        case["kernel_size"],
        case["stride"],
        case["padding"],
        case["kernel_dilation"],
    )
    expected_params = case["in"] // case["groups"] * case["out"] * math.prod(
        _tuple(case["kernel_size"], dims)
    ) + (case["out"] if case["use_bias"] else 0)

    def flax_apply(x):
        conv = nnx.ConvTranspose(
            case["in"],
            case["out"],
            _tuple(case["kernel_size"], dims),
            strides=case["stride"],
            padding=_flax_padding(case["padding"], dims),
            kernel_dilation=case["kernel_dilation"],
            use_bias=case["use_bias"],
            rngs=nnx.Rngs(0),
        )
        return conv(x)

    x_nhwc = jax.ShapeDtypeStruct((1, *case["spatial"], case["in"]), F32)
    if any(n <= 0 for n in r.spatial_out):
        try:
            flax_out = jax.eval_shape(flax_apply, x_nhwc).shape[1:-1]
        except Exception:  # noqa: BLE001
            return
        assert min(flax_out) == 0 and min(r.spatial_out) <= 0
        return
    layer, ours = _ours(case, transposed=True)
    assert ours == r.spatial_out
    # flax has no groups for ConvTranspose: the shape does not depend on them
    assert ours == jax.eval_shape(flax_apply, x_nhwc).shape[1:-1]
    assert _eqx_count(layer) == expected_params
    if case["groups"] == 1:
        flax_module = nnx.eval_shape(
            lambda: nnx.ConvTranspose(
                case["in"],
                case["out"],
                _tuple(case["kernel_size"], dims),
                use_bias=case["use_bias"],
                rngs=nnx.Rngs(0),
            )
        )
        assert _param_count(flax_module) == expected_params
    if case["padding"] != "CIRCULAR":
        pads = case["padding"]
        if isinstance(pads, int):
            pads = [(pads, pads)] * dims
        elif isinstance(pads, list):
            pads = [tuple(p) for p in pads]
        lax_y = jax.eval_shape(
            lambda x, w: jax.lax.conv_transpose(
                x,
                w,
                _tuple(case["stride"], dims),
                pads,
                rhs_dilation=_tuple(case["kernel_dilation"], dims),
                dimension_numbers=(
                    "NC" + "DHW"[-dims:],
                    "OI" + "DHW"[-dims:],
                    "NC" + "DHW"[-dims:],
                ),
            ),
            jax.ShapeDtypeStruct((1, case["in"], *case["spatial"]), F32),
            jax.ShapeDtypeStruct(
                (case["out"], case["in"], *_tuple(case["kernel_size"], dims)), F32
            ),
        )
        assert ours == lax_y.shape[2:]


@pytest.mark.parametrize("seed", slow_after(range(2000, 2090), 30))
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pools_match_flax(seed: int, kind: str) -> None:
    rng = random.Random(seed)
    dims = (1, 2, 3)[seed % 3]
    spatial = tuple(rng.randint(1, {1: 20, 2: 10, 3: 6}[dims]) for _ in range(dims))
    window = _knob(rng, dims, 4)
    stride = _knob(rng, dims, 3)
    padding = rng.choice(["SAME", "VALID", "pairs"])
    if padding == "pairs":
        padding = [[rng.randint(0, 2), rng.randint(0, 2)] for _ in range(dims)]
    r = ca.resolve_pool(spatial, window, stride, padding)
    pool = nnx.max_pool if kind == "max" else nnx.avg_pool

    def flax_apply(x):
        return pool(
            x,
            _tuple(window, dims),
            strides=_tuple(stride, dims),
            padding=_flax_padding(padding, dims),
        )

    x_nhwc = jax.ShapeDtypeStruct((1, *spatial, 2), F32)
    if any(n <= 0 for n in r.spatial_out):
        try:
            flax_out = jax.eval_shape(flax_apply, x_nhwc).shape[1:-1]
        except Exception:  # noqa: BLE001
            return
        assert min(flax_out) == 0
        return
    ours = jax.eval_shape(
        st.Pool(kind, dims, window, stride=stride, padding=padding),
        jax.ShapeDtypeStruct((2, *spatial), F32),
    ).shape[1:]
    assert ours == r.spatial_out == jax.eval_shape(flax_apply, x_nhwc).shape[1:-1]


def _both(ours, theirs, x):
    """Our layer and flax's on x, in one compiled program: one XLA compile per case instead of
    one per primitive of each side run eagerly."""
    got, expected = jax.jit(lambda v: (ours(v), theirs(v)))(x)
    return np.asarray(got), np.asarray(expected)


def _copy_weights(flax_conv, ours):
    """Our weights copied into flax's layout: (out, in/g, *k) -> (*k, in/g, out)."""
    w = np.asarray(ours.weight)
    flax_conv.kernel[...] = jnp.asarray(np.moveaxis(w, (0, 1), (-1, -2)))
    if ours.bias is not None:
        flax_conv.bias[...] = jnp.asarray(np.asarray(ours.bias).reshape(-1))


@pytest.mark.parametrize("padding", ["SAME", "VALID", "CIRCULAR", "REFLECT", "CAUSAL", 2, [[1, 3]]])
def test_conv_values_equal_flax(padding) -> None:
    """Not only the shapes: the values of a 1-D conv in every padding form equal flax's."""
    ours = st.Conv(
        1, 2, 3, 4, stride=2, kernel_dilation=2, padding=padding, key=jax.random.PRNGKey(1)
    )
    flax_conv = nnx.Conv(
        2,
        3,
        (4,),
        strides=2,
        kernel_dilation=2,
        padding=_flax_padding(padding, 1),
        rngs=nnx.Rngs(0),
    )
    _copy_weights(flax_conv, ours)
    x = jax.random.normal(jax.random.PRNGKey(2), (2, 13))
    got, expected = _both(ours, lambda v: flax_conv(v.T[None])[0].T, x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("padding", ["SAME", "VALID", "CIRCULAR", [[2, 1]]])
@pytest.mark.parametrize(
    ("kernel", "stride", "dilation"),
    [(3, 2, 1), (3, 1, 1), (5, 3, 1), (2, 2, 1), (4, 2, 2), (2, 3, 1)],
)
def test_conv_transpose_values_equal_flax(padding, kernel, stride, dilation) -> None:
    ours = st.ConvTranspose(
        1,
        2,
        3,
        kernel,
        stride=stride,
        kernel_dilation=dilation,
        padding=padding,
        key=jax.random.PRNGKey(1),
    )
    flax_conv = nnx.ConvTranspose(
        2,
        3,
        (kernel,),
        strides=stride,
        kernel_dilation=dilation,
        padding=_flax_padding(padding, 1),
        rngs=nnx.Rngs(0),
    )
    _copy_weights(flax_conv, ours)
    x = jax.random.normal(jax.random.PRNGKey(2), (2, 7))
    got, expected = _both(ours, lambda v: flax_conv(v.T[None])[0].T, x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("padding", ["SAME", "VALID", [[1, 2], [0, 1]]])
def test_pool_values_equal_flax(kind: str, padding) -> None:
    x = jax.random.normal(jax.random.PRNGKey(3), (2, 7, 6))
    pool = nnx.max_pool if kind == "max" else nnx.avg_pool
    ours, theirs = _both(
        st.Pool(kind, 2, [3, 2], stride=[2, 1], padding=padding),
        lambda v: pool(v.transpose(1, 2, 0)[None], (3, 2), (2, 1), _flax_padding(padding, 2)),
        x,
    )
    np.testing.assert_allclose(ours, theirs[0].transpose(2, 0, 1), rtol=1e-6)


def test_norms_equal_flax() -> None:
    x = jax.random.normal(jax.random.PRNGKey(4), (6, 5, 4))
    group = nnx.GroupNorm(6, num_groups=3, rngs=nnx.Rngs(0))
    ours, theirs = _both(st.GroupNorm(6, 3), lambda v: group(v.transpose(1, 2, 0)[None]), x)
    np.testing.assert_allclose(ours, theirs[0].transpose(2, 0, 1), rtol=1e-4, atol=1e-5)
    layer = nnx.LayerNorm(6, rngs=nnx.Rngs(0))
    ours, theirs = _both(st.LayerNorm(6), lambda v: layer(v.transpose(1, 2, 0)), x)
    np.testing.assert_allclose(ours, theirs.transpose(2, 0, 1), rtol=1e-4, atol=1e-5)
    assert _param_count(group) == _eqx_count(st.GroupNorm(6, 3)) == 12
    assert _param_count(layer) == _eqx_count(st.LayerNorm(6)) == 12
