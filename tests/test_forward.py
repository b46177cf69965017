"""The built-in families really run: output shapes equal pdequinox's for the same arguments.

Counting never calls the model, but later reports (shapes, receptive fields, FLOPs) do, so the
forward pass is checked here abstractly for every family in 1-3 D and every boundary mode, and
concretely (real numbers, finite output) on small inputs.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import pdequinox as pdeq
import pytest
import yaml

from archinspect.build import build_abstract
from archinspect.families import FAMILIES
from archinspect.spec import load_spec_text

CASES = [
    ("ConvNet", {"depth": 2, "kernel_size": 4, "hidden_channels": 4}),
    ("ClassicResNet", {"num_blocks": 2, "hidden_channels": 4}),
    ("ModernResNet", {"num_blocks": 2, "hidden_channels": 4}),
    ("ClassicUNet", {"num_levels": 2, "hidden_channels": 4}),
    ("ModernUNet", {"num_levels": 2, "hidden_channels": 3, "channel_multipliers": [1, 3]}),
    ("ClassicFNO", {"num_modes": 3, "hidden_channels": 4, "num_blocks": 2}),
    ("DilatedResNet", {"num_blocks": 1, "hidden_channels": 4, "dilation_rates": [1, 2]}),
    ("MLP", {"num_points": 8, "width_size": 8, "depth": 1}),
]


def _spec(family: str, dims: int, kwargs: dict, **extra):
    model = {"family": family, "num_spatial_dims": dims, "in_channels": 2, "out_channels": 3}
    return load_spec_text(yaml.safe_dump({"model": {**model, **kwargs, **extra}}), "test")


def _pdequinox_out_shape(family: str, dims: int, kwargs: dict, x):
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    model = eqx.filter_eval_shape(
        lambda: getattr(pdeq.arch, family)(dims, 2, 3, key=jax.random.PRNGKey(0), **kw)
    )
    return eqx.filter_eval_shape(lambda m, v: m(v), model, x).shape


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize(("family", "kwargs"), CASES, ids=[c[0] for c in CASES])
def test_output_shape_matches_pdequinox(family, kwargs, dims):
    spec = _spec(family, dims, kwargs)
    x = jax.ShapeDtypeStruct((2,) + (8,) * dims, jnp.float32)
    ours = eqx.filter_eval_shape(lambda m, v: m(v), build_abstract(spec), x).shape
    assert ours == (3,) + (8,) * dims
    assert ours == _pdequinox_out_shape(family, dims, kwargs, x)


@pytest.mark.parametrize("mode", ["periodic", "dirichlet", "neumann"])
@pytest.mark.parametrize(
    "family",
    [
        # the UNets run eagerly for seconds each: with `make test-all`
        pytest.param(n, marks=pytest.mark.slow) if "UNet" in n else n
        for n in FAMILIES
        if "boundary_mode" in {a.name for a in FAMILIES[n].args}
    ],
)
def test_concrete_forward_is_finite(family, mode):
    kwargs = dict(next(kw for name, kw in CASES if name == family))
    spec = _spec(family, 1, kwargs, boundary_mode=mode)
    cls = FAMILIES[family].load_class()
    model = cls(**spec.args, key=jax.random.PRNGKey(1))
    y = eqx.filter_jit(lambda m, v: m(v))(model, jax.random.normal(jax.random.PRNGKey(2), (2, 8)))
    assert y.shape == (3, 8)
    assert bool(jnp.all(jnp.isfinite(y)))


def test_unet_rejects_resolution_not_divisible_by_two_to_the_levels():
    spec = _spec("ClassicUNet", 1, {"num_levels": 2, "hidden_channels": 2})
    x = jax.ShapeDtypeStruct((2, 10), jnp.float32)
    with pytest.raises(ValueError, match=r"divisible by 2\*\*2=4, got \(10,\)"):
        eqx.filter_eval_shape(lambda m, v: m(v), build_abstract(spec), x)


def test_fno_rejects_too_few_cells_for_its_modes():
    spec = _spec("ClassicFNO", 1, {"num_modes": 5, "hidden_channels": 2, "num_blocks": 1})
    x = jax.ShapeDtypeStruct((2, 6), jnp.float32)
    with pytest.raises(ValueError, match=r"num_modes \(=5\) needs at least 8 cells"):
        eqx.filter_eval_shape(lambda m, v: m(v), build_abstract(spec), x)
