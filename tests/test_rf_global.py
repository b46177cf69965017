"""Global coupling: `global_` and `global_via` for every family, and for custom modules.

Normalization statistics over space (GroupNorm, LayerNorm), FFTs, global pooling and dense
layers over space make every output cell depend on every input cell. That never widens the
stencil RF; it is reported separately, naming each responsible module by path and type in call
order. The expected lists below follow the families' structure (layers/blocks.py,
families/*.py): a GroupNorm after each of a block's two convs, a bypass norm only where a
ModernResBlock changes the channel count, right-arc blocks called from the coarsest level up.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest
import yaml

from archinspect.analysis.receptive_field import receptive_field
from archinspect.analysis.receptive_field.analytic import analytic_receptive_field
from archinspect.build import build_abstract
from archinspect.layers.conv import Conv
from archinspect.report import GlobalSource
from archinspect.spec import load_spec_text

KEY = jax.random.PRNGKey(0)


def spec(family, d=1, in_channels=1, resolution=16, **kwargs):
    model = {
        "family": family,
        "num_spatial_dims": d,
        "in_channels": in_channels,
        "out_channels": 1,
        **kwargs,
    }
    return load_spec_text(
        yaml.safe_dump({"model": model, "input": {"resolution": resolution}}), "test"
    )


def structural(s):
    return receptive_field(build_abstract(s), s.input_shape)


def norms(*paths):
    return tuple(GlobalSource(p, "GroupNorm", "normalization") for p in paths)


def block(path, bypass=False):
    return [f"{path}.norm_1", f"{path}.norm_2"] + ([f"{path}.bypass_norm"] if bypass else [])


CASES = [
    (
        "ModernResNet",
        dict(hidden_channels=4, num_blocks=2),
        norms(*block("blocks[0]"), *block("blocks[1]")),
    ),
    (
        "ClassicResNet",
        dict(hidden_channels=4, num_blocks=1, use_norm=True),
        norms(*block("blocks[0]")),
    ),
    (
        "DilatedResNet",
        dict(hidden_channels=2, num_blocks=1, dilation_rates=[1, 2]),
        norms("blocks[0].norm_layers[0]", "blocks[0].norm_layers[1]"),
    ),
    (
        "ClassicUNet",
        dict(hidden_channels=2, num_levels=1),
        norms(*block("lifting"), *block("left_arc_blocks[0][0]"), *block("right_arc_blocks[0][0]")),
    ),
    (
        # ModernUNet from 1 to 2 channels: the lifting (1 -> 2), the left block (2 -> 4) and the
        # right block (up 4 // 2 = 2 plus skip 2 = 4 -> 2) all change width: bypass norms.
        "ModernUNet",
        dict(hidden_channels=2, num_levels=1, num_blocks=1),
        norms(
            *block("lifting", True),
            *block("left_arc_blocks[0][0]", True),
            *block("right_arc_blocks[0][0]", True),
        ),
    ),
    (
        # Two levels: the right arc runs level 1 first, then level 0.
        "ClassicUNet",
        dict(hidden_channels=2, num_levels=2),
        norms(
            *block("lifting"),
            *block("left_arc_blocks[0][0]"),
            *block("left_arc_blocks[1][0]"),
            *block("right_arc_blocks[1][0]"),
            *block("right_arc_blocks[0][0]"),
        ),
    ),
    (
        "ClassicFNO",
        dict(hidden_channels=2, num_modes=2, num_blocks=2),
        (
            GlobalSource("blocks[0].spectral_conv", "SpectralConv", "fft"),
            GlobalSource("blocks[1].spectral_conv", "SpectralConv", "fft"),
        ),
    ),
    (
        "MLP",
        dict(num_points=16, width_size=4, depth=2),
        # Only the first layer contracts over space; the others mix features.
        (GlobalSource("flat_mlp.layers[0]", "Linear", "dense over space"),),
    ),
]


@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize(("family", "kwargs", "expected"), CASES, ids=[c[0] for c in CASES])
def test_global_sources_of_every_coupling_family(family, kwargs, expected, d):
    s = spec(family, d=d, resolution=kwargs.get("num_points", 16), **kwargs)
    r = structural(s)
    assert r.global_ is True
    assert r.global_via == expected
    # The analytic composition knows the same modules from the family's structure.
    assert analytic_receptive_field(s).global_via == expected


def test_modern_unet_lifting_without_channel_change_has_no_bypass_norm():
    s = spec("ModernUNet", in_channels=2, hidden_channels=2, num_levels=1, num_blocks=1)
    paths = [g.path for g in structural(s).global_via]
    assert paths[:2] == ["lifting.norm_1", "lifting.norm_2"]
    assert "lifting.bypass_norm" not in paths


@pytest.mark.parametrize(
    ("family", "kwargs"),
    [
        ("ConvNet", dict(hidden_channels=2, depth=2)),
        ("ClassicResNet", dict(hidden_channels=2, num_blocks=2)),  # use_norm=False by default
        ("ModernResNet", dict(hidden_channels=2, num_blocks=2, use_norm=False)),
        ("DilatedResNet", dict(hidden_channels=2, num_blocks=1, use_norm=False)),
        ("ClassicUNet", dict(hidden_channels=2, num_levels=2, use_norm=False)),
        ("ModernUNet", dict(hidden_channels=2, num_levels=1, use_norm=False)),
    ],
)
@pytest.mark.parametrize("d", [1, 3])
def test_no_global_coupling_without_norms(family, kwargs, d):
    r = structural(spec(family, d=d, resolution=8, **kwargs))
    assert r.global_ is False
    assert r.global_via == ()


def test_norms_do_not_widen_the_stencil():
    # ModernResNet with and without norms: the same 2 * num_blocks stencil.
    with_norm = structural(spec("ModernResNet", hidden_channels=2, num_blocks=3))
    without = structural(spec("ModernResNet", hidden_channels=2, num_blocks=3, use_norm=False))
    assert with_norm.per_axis == without.per_axis == ((6, 6),)


class MeanPool(eqx.Module):
    """conv, then the spatial mean added back: global pooling in the root module."""

    conv: Conv

    def __call__(self, x):
        y = self.conv(x)
        return y + jnp.mean(y, axis=tuple(range(1, y.ndim)), keepdims=True)


class Normed(eqx.Module):
    conv: Conv
    norm: eqx.nn.LayerNorm

    def __call__(self, x):
        return self.norm(self.conv(x))


def test_custom_global_pooling_and_layer_norm():
    pooled = receptive_field(MeanPool(Conv(2, 1, 1, 3, key=KEY)), (1, 8, 8))
    assert pooled.per_axis == ((1, 1), (1, 1))
    assert pooled.global_via == (GlobalSource("", "MeanPool", "global pooling"),)
    normed = receptive_field(Normed(Conv(1, 1, 1, 5, key=KEY), eqx.nn.LayerNorm((1, 16))), (1, 16))
    assert normed.per_axis == ((2, 2),)
    assert normed.global_via == (GlobalSource("norm", "LayerNorm", "normalization"),)


def test_empirical_method_reports_the_norms_it_cut():
    s = spec("ClassicUNet", hidden_channels=2, num_levels=2)
    model = build_abstract(s)
    empirical = receptive_field(model, s.input_shape, method="empirical")
    assert empirical.global_ is True
    # Tree order, not call order: compare as sets.
    assert set(empirical.global_via) == set(structural(s).global_via)
    fno = spec("ClassicFNO", hidden_channels=2, num_modes=2, num_blocks=1)
    assert receptive_field(build_abstract(fno), fno.input_shape, method="empirical").global_
