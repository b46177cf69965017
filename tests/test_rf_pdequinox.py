"""pdequinox's own modules through the structural method, and where pdequinox's numbers are off.

pdequinox's networks are built abstractly (`eqx.filter_eval_shape`, no weights): the structural
method only needs their traced forward pass, so the same code that analyses the built-in
families analyses them. For every family the result equals the built-in family of the same
arguments, and it equals pdequinox's own `receptive_field` property except for the UNets.

Why pdequinox's UNet figures are too large. pdequinox sums per-block receptive fields and scales
each block by the reduction factor of the grid it runs on; it scales the up-sampling block of
level i, a transposed 3-conv, by 2**(i+1) (the coarse grid it reads from), contributing
2**(i+1) cells each way. But a transposed conv with stride 2 puts a fine cell p either on a
coarse cell (even p: it reads only that cell) or between two (odd p: it reads both neighbours):
its reach is one *fine* cell, 2**i input cells, and only for odd positions. Composed cone by cone
(rf_analytic.py), the exact maximum over positions is 2**i smaller per level than pdequinox's
sum: sum_{i<4} 2**i = 15 less for the 4-level defaults, 137 - 15 = 122 (ClassicUNet) and
227 - 15 = 212 (ModernUNet). Positions differ with their offset modulo 2**4 = 16 (107..122 and
197..212).
"""

from __future__ import annotations

import equinox as eqx
import jax
import pdequinox as pdeq
import pytest
import yaml

from archinspect.analysis.receptive_field import receptive_field
from archinspect.build import build_abstract
from archinspect.spec import load_spec_text


def pdequinox_model(family, d=1, **kwargs):
    return eqx.filter_eval_shape(
        lambda: getattr(pdeq.arch, family)(d, 1, 1, key=jax.random.PRNGKey(0), **kwargs)
    )


def ours(family, d=1, resolution=64, **kwargs):
    model = {"family": family, "num_spatial_dims": d, "in_channels": 1, "out_channels": 1}
    s = load_spec_text(
        yaml.safe_dump({"model": {**model, **kwargs}, "input": {"resolution": resolution}}), "t"
    )
    return receptive_field(build_abstract(s), s.input_shape)


@pytest.mark.parametrize(
    ("family", "exact", "exact_range", "pdequinox"),
    [
        ("ClassicUNet", 122, ((107, 122), (107, 122)), 137.0),
        ("ModernUNet", 212, ((197, 212), (197, 212)), 227.0),
    ],
)
def test_unet_defaults_are_smaller_than_pdequinox_claims(family, exact, exact_range, pdequinox):
    model = pdequinox_model(family)
    r = receptive_field(model, (1, 64))
    assert r.per_axis == ((exact, exact),)
    assert r.position_range == (exact_range,)
    assert r.period == (16,)
    # pdequinox's analytic figure (README "Where archinspect and pdequinox differ") over-counts
    # the up-sampling blocks by 15 cells.
    assert model.receptive_field == ((pdequinox, pdequinox),)
    assert model.receptive_field[0][0] - exact == 1 + 2 + 4 + 8
    # The built-in family of the same arguments gives the same exact result and names the
    # same norms.
    built_in = ours(family)
    assert (built_in.per_axis, built_in.position_range, built_in.period) == (
        r.per_axis,
        r.position_range,
        r.period,
    )
    assert built_in.global_via == r.global_via
    assert r.global_via[0].path == "lifting.norm_1" and r.global_via[0].type == "GroupNorm"


@pytest.mark.parametrize(
    ("family", "kwargs", "resolution"),
    [
        ("ConvNet", {}, 64),
        ("ConvNet", dict(kernel_size=4, depth=2), 64),
        ("ClassicResNet", {}, 64),
        ("ModernResNet", {}, 64),
        ("DilatedResNet", {}, 64),
        ("ClassicFNO", {}, 64),
        ("MLP", dict(num_points=48), 48),
    ],
)
def test_other_families_match_pdequinox_where_it_is_right(family, kwargs, resolution):
    model = pdequinox_model(family, **kwargs)
    r = receptive_field(model, (1, resolution))
    assert r.per_axis == tuple((float(b), float(f)) for b, f in model.receptive_field)
    assert r.per_axis == ours(family, resolution=resolution, **kwargs).per_axis


@pytest.mark.parametrize("mode", ["periodic", "dirichlet", "neumann"])
def test_pdequinox_unet_2d_all_boundary_modes(mode):
    # Two levels: exact (26, 26) per axis (pdequinox: 2 + 3 + 12 + 6 + 6 = 29); the transposed
    # convolution's wrap/reflect/zero pre-padding and negative post-padding go through the
    # same rules as the built-in zero-insertion up-sampling.
    kwargs = dict(num_levels=2, hidden_channels=2, boundary_mode=mode)
    model = pdequinox_model("ClassicUNet", d=2, **kwargs)
    r = receptive_field(model, (1, 16, 16))
    assert r.per_axis == ((26, 26), (26, 26))
    assert r.position_range == (((23, 26), (23, 26)),) * 2
    assert model.receptive_field == ((29.0, 29.0),) * 2
    built_in = ours("ClassicUNet", d=2, resolution=16, **kwargs)
    assert (built_in.per_axis, built_in.position_range) == (r.per_axis, r.position_range)


def test_pdequinox_unet_empirical_agrees():
    model = pdequinox_model("ModernUNet", num_levels=2, hidden_channels=2, num_blocks=1)
    structural = receptive_field(model, (1, 16))
    empirical = receptive_field(model, (1, 16), method="empirical")
    assert (empirical.per_axis, empirical.position_range) == (
        structural.per_axis,
        structural.position_range,
    )
