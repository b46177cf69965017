"""GroupCNN (README "Group-equivariant CNNs"): learnable and materialized counts by hand, the
filter banks against rotations, mirrors and shifts written here independently, and the
materialized count measured from the program (not a formula).

Counting, for C_in -> C_out (G-)channels with k x k filters on a group of S elements:
- lifting Z2 -> G stores C_out * C_in * k^2 and builds S rotated copies (S times that);
- group G -> G stores C_out * C_in * S * k^2 (a filter on G has S orientation channels per
  input G-channel) and builds S times that;
- a bias is one value per output G-channel, shared by its orientations (never expanded).
"""

from __future__ import annotations

import json
import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from archinspect.analysis.params import count_params
from archinspect.commands.count import count_report
from archinspect.layers.group_conv import BANK_NAME, GroupConv, LiftingConv
from archinspect.spec.load import load_spec_text


def spec_of(resolution: int = 8, **model):
    model = {"family": "GroupCNN", "num_spatial_dims": 2, **model}
    return load_spec_text(
        f"model: {json.dumps(model)}\ninput: {{resolution: {resolution}}}\n", "test.yaml"
    )


EXAMPLE = {"in_channels": 3, "hidden_channels": [5], "out_channels": 7, "kernel_size": 3}


@pytest.mark.parametrize(
    ("group", "use_bias", "learnable", "materialized"),
    [
        # C4, S = 4: lifting 5*3*3*3 = 135, group 7*5*4*3*3 = 1,260; banks x4
        ("C4", False, 135 + 1260, 4 * 135 + 4 * 1260),  # 1,395 / 5,580
        # D4, S = 8: lifting 135, group 7*5*8*3*3 = 2,520; banks x8
        ("D4", False, 135 + 2520, 8 * 135 + 8 * 2520),  # 2,655 / 21,240
        # biases: 5 + 7, one per G-channel in both counts
        ("C4", True, 135 + 5 + 1260 + 7, 540 + 5 + 5040 + 7),  # 1,407 / 5,592
        ("D4", True, 135 + 5 + 2520 + 7, 1080 + 5 + 20160 + 7),  # 2,667 / 21,252
    ],
)
def test_example_counts(group, use_bias, learnable, materialized):
    report = count_report(spec_of(group=group, use_bias=use_bias, **EXAMPLE), depth=None)
    assert report.params.learnable == report.params.total == learnable
    assert report.params.materialized == materialized
    assert (1395, 5580) == (135 + 1260, 540 + 5040)  # the README's C4 figures
    assert (2655, 21240) == (135 + 2520, 1080 + 20160)  # and D4's


def test_reason_lines_and_row_materialized():
    report = count_report(spec_of(group="C4", use_bias=False, **EXAMPLE), depth=None)
    assert (
        "lifting: 3→5 C4 lifting conv: 135 learnable (3 channels × 5 × 3×3), "
        "materialized ×4 = 540" in report.notes
    )
    assert (
        "layers[0]: 5→7 C4 conv: 1,260 learnable (5 G-channels × 4 orientations × 7 × 3×3), "
        "materialized ×4 = 5,040" in report.notes
    )
    rows = {r.path: (r.params, r.materialized) for r in report.rows}
    assert rows == {
        "": (1395, 5580),
        "lifting": (135, 540),
        "layers": (1260, 5040),
        "layers[0]": (1260, 5040),
    }
    with_bias = count_report(spec_of(group="D4", use_bias=True, **EXAMPLE), depth=None)
    assert any(
        n.endswith("materialized ×8 = 20,160; bias 7, one per G-channel, not expanded")
        for n in with_bias.notes
    )


def test_three_layers_and_other_kernel():
    # lifting 2->4 (k=5): 4*2*25 = 200; 4->6: 6*4*4*25 = 2,400; 6->1: 1*6*4*25 = 600; biases 11
    report = count_report(
        spec_of(
            group="C4",
            in_channels=2,
            hidden_channels=[4, 6],
            out_channels=1,
            kernel_size=5,
            resolution=9,
        ),
        depth=None,
    )
    assert report.params.learnable == 200 + 2400 + 600 + 4 + 6 + 1
    assert report.params.materialized == 4 * (200 + 2400 + 600) + 4 + 6 + 1


# --- the banks, against an independent construction ----------------------------------------


def _act(a: np.ndarray, turns: int, mirrored: int) -> np.ndarray:
    """g = r^turns m^mirrored on the last two axes: mirror left-right, then rotate."""
    if mirrored:
        a = a[..., :, ::-1]
    return np.rot90(a, turns, axes=(-2, -1))


def _elements(order: int) -> list[tuple[int, int]]:
    return [(t, 0) for t in range(4)] + ([(t, 1) for t in range(4)] if order == 8 else [])


def _d4_table(order: int) -> tuple[np.ndarray, np.ndarray]:
    """Products and inverses found by acting on an asymmetric array (no algebra)."""
    probe = np.arange(9.0).reshape(3, 3)
    images = [_act(probe, *e) for e in _elements(order)]

    def index(a):
        return next(i for i, b in enumerate(images) if np.array_equal(a, b))

    els = _elements(order)
    prod = np.array([[index(_act(_act(probe, *b), *a)) for b in els] for a in els])
    inv = np.array([int(np.where(prod[a] == 0)[0][0]) for a in range(order)])
    return prod, inv


def _with_random_weight(cls, *args):
    """The layer built abstractly, its weight numpy draws (no compiled initialiser: fast)."""
    layer = eqx.filter_eval_shape(lambda: cls(*args, use_bias=False, key=jax.random.PRNGKey(0)))
    weight = np.random.default_rng(0).standard_normal(layer.weight.shape).astype(np.float32)
    return eqx.tree_at(lambda m: m.weight, layer, jnp.asarray(weight))


@pytest.mark.parametrize("group", ["C4", "D4"])
def test_lifting_bank(group):
    layer = _with_random_weight(LiftingConv, group, 2, 3, 3)
    w = np.asarray(layer.weight)
    bank = np.asarray(layer.filter_bank())
    order = 4 if group == "C4" else 8
    assert bank.shape == (3 * order, 2, 3, 3)
    for c in range(3):
        for s, (turns, mirrored) in enumerate(_elements(order)):
            np.testing.assert_array_equal(bank[c * order + s], _act(w[c], turns, mirrored))


@pytest.mark.parametrize("group", ["C4", "D4"])
def test_group_bank(group):
    order = 4 if group == "C4" else 8
    layer = _with_random_weight(GroupConv, group, 2, 3, 3)
    w = np.asarray(layer.weight)  # (C_out, C_in, S, k, k)
    bank = np.asarray(layer.filter_bank()).reshape(3, order, 2, order, 3, 3)
    prod, inv = _d4_table(order)
    for g, (turns, mirrored) in enumerate(_elements(order)):
        if order == 4:  # C4: the orientation channels shift cyclically by g's quarter turns
            permuted = w[:, :, [(h - turns) % 4 for h in range(4)]]
        else:  # D4: orientation h of the filter for g comes from g^-1 h
            permuted = w[:, :, [prod[inv[g], h] for h in range(order)]]
        np.testing.assert_array_equal(bank[:, g], _act(permuted, turns, mirrored))


# --- materialized is measured ------------------------------------------------------------------


class _Tiled(eqx.Module):
    """Builds a "bank" three times its stored filter through a call of the bank's name."""

    weight: jax.Array

    def filter_bank(self):
        def archinspect_filter_bank(w):
            return jnp.tile(w, 3)

        assert archinspect_filter_bank.__name__ == BANK_NAME
        return jax.jit(archinspect_filter_bank)(self.weight)

    def __call__(self, x):
        return x * self.filter_bank().sum() + self.weight.sum() * 0


def test_materialized_is_the_size_of_the_built_bank():
    # weight of 5 read once through the bank (15 values) and once directly (5 more)
    p = count_params(_Tiled(jnp.ones(5)), input_shape=(2,))
    assert (p.total, p.materialized) == (5, 15 + 5)
    assert p.banks[0].materialized == 15 and p.banks[0].expanded == ()


def test_materialized_stays_measured_when_a_bank_is_only_read():
    class OnlyBank(eqx.Module):
        weight: jax.Array

        def filter_bank(self):
            def archinspect_filter_bank(w):
                return jnp.concatenate([w, w[::-1]])

            return jax.jit(archinspect_filter_bank)(self.weight)

        def __call__(self, x):
            return x * self.filter_bank().sum()

    p = count_params(OnlyBank(jnp.ones(4)), input_shape=(2,))
    assert (p.total, p.materialized) == (4, 8)
    assert p.banks[0].expanded == ("weight",)


def test_plain_family_unchanged():
    spec = load_spec_text(
        "model: {family: ConvNet, num_spatial_dims: 2, in_channels: 1, out_channels: 1,"
        " hidden_channels: 4, depth: 1}\n",
        "plain.yaml",
    )
    report = count_report(spec, depth=None)
    # 1->4 and 4->1, 3x3, biased: (4*9 + 4) + (1*4*9 + 1) = 77; nothing expanded
    assert report.params.learnable == report.params.materialized == 77
    assert report.params.banks == ()
    assert all(r.materialized is None for r in report.rows)


# --- widths that match a plain CNN -------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "order", "by", "width"),
    [
        (64, 4, "params", 32),  # 64 / sqrt(4) = 32 exactly
        (64, 4, "compute", 16),  # 64 / 4
        (64, 8, "params", 22),  # 64 / sqrt(8) = 22.63 -> 22 (22^2 * 8 = 3,872 <= 4,096 < 23^2 * 8)
        (64, 8, "compute", 8),  # 64 / 8
        (3, 8, "compute", 1),  # 3 / 8 = 0.375 -> at least 1
        (5, 4, "params", 2),  # 5 / 2 = 2.5 -> 2
    ],
)
def test_matched_width(n, order, by, width):
    from archinspect.families.group_cnn import matched_width

    assert matched_width(n, order, by) == width


def _invoke(*args: str):
    from typer.testing import CliRunner

    from archinspect.cli import app

    return CliRunner().invoke(app, list(args))


def test_count_match_cnn(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text(
        "model: {family: GroupCNN, num_spatial_dims: 2, group: C4, in_channels: 3,"
        " hidden_channels: [5, 5], out_channels: 7, use_bias: false}\ninput: {resolution: 8}\n"
    )
    result = _invoke("count", str(path), "--match-cnn", "64", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # widths 32, 32: lifting 3->32: 32*3*9 = 864; 32->32: 32*32*4*9 = 36,864; 32->7: 7*32*4*9
    learnable = 864 + 36864 + 8064
    assert data["params"]["learnable"] == learnable
    assert data["params"]["materialized"] == 4 * learnable
    assert data["notes"][0] == (
        "matched to a plain CNN of 64 channels by params: hidden_channels = [32, 32] G-channels"
        " of 4 orientations (64/√4 = 32.00, rounded down, at least 1); a hidden layer stores"
        " 4·32²·k² = 4,096·k² weights against 64²·k² = 4,096·k² for the plain conv, and"
        " computes like a plain conv of 4·32 = 128 channels (--by compute for the other rule)"
    )
    compute = _invoke("count", str(path), "--match-cnn", "64", "--by", "compute", "-f", "json")
    data = json.loads(compute.stdout)
    # widths 16, 16: 16*3*9 = 432; 16*16*4*9 = 9,216; 7*16*4*9 = 4,032
    assert data["params"]["learnable"] == 432 + 9216 + 4032


def test_match_cnn_refused_elsewhere(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "model: {family: ConvNet, num_spatial_dims: 2, in_channels: 1, out_channels: 1}\n"
    )
    result = _invoke("count", str(path), "--match-cnn", "8")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: --match-cnn compares group-CNN widths with a plain CNN; it applies to the "
        "families GroupCNN, not to ConvNet\n"
    )
    alone = _invoke("count", str(path), "--by", "compute")
    assert alone.exit_code == 2
    assert alone.stderr == "error: --by chooses how --match-cnn N matches; give --match-cnn N\n"


def test_every_format_shows_learnable_and_materialized():
    """configs/gcnn_c4.yaml: learnable 1,395 (135 + 1,260), materialized 5,580 (4 x that)."""
    from archinspect.cli import app

    config = "configs/gcnn_c4.yaml"
    from typer.testing import CliRunner

    runner_ = CliRunner()

    def out(*args):
        result = runner_.invoke(app, [*args])
        assert result.exit_code == 0, result.output
        return result.stdout

    table = out("count", config)
    assert "learnable         1,395" in table and "materialized      5,580" in table
    markdown = out("count", config, "-f", "markdown")
    assert "| learnable | 1,395 |" in markdown and "| materialized | 5,580 |" in markdown
    csv_lines = out("count", config, "-f", "csv").splitlines()
    header = "path,type,depth,own_params,params,materialized,folded,arrays,receptive_field"
    assert csv_lines[0] == header
    # two SAME 3x3 convs: the lifting conv reaches 1 cell each way, the group conv after it 2
    lifting = 'lifting,LiftingConv,1,135,135,540,0,"weight f32[5,3,3,3]","[[1,1],[1,1]]"'
    assert csv_lines[1] == lifting
    assert csv_lines[3].endswith(',"[[2,2],[2,2]]"')
    params = json.loads(out("count", config, "-f", "json"))["params"]
    assert (params["learnable"], params["materialized"]) == (1395, 5580)
    assert [(b["path"], b["learnable"], b["materialized"]) for b in params["filter_banks"]] == [
        ("lifting", 135, 540),
        ("layers[0]", 1260, 5040),
    ]
    shapes = out("shapes", config, "--no-rf")
    assert re.search(r"^learnable +1,395$", shapes, re.MULTILINE)
    assert re.search(r"^materialized +5,580 ", shapes, re.MULTILINE)


def test_families_explains_both_comparisons():
    from typer.testing import CliRunner

    from archinspect.cli import app

    result = CliRunner().invoke(app, ["families", "GroupCNN", "-f", "json"])
    assert result.exit_code == 0, result.output
    [family] = json.loads(result.stdout)["families"]
    notes = " ".join(family["notes"])
    assert "equal parameters => N/sqrt(S) G-channels (C4: N/2, D4: N/2.83)" in notes
    assert "equal compute => N/S (C4: N/4, D4: N/8)" in notes
    assert 64 / 8**0.5 == pytest.approx(22.63, abs=0.01)  # D4's N/2.83, by hand
    assert [a["name"] for a in family["arguments"]][3:] == [
        "group",
        "hidden_channels",
        "kernel_size",
        "padding",
        "use_bias",
        "activation",
        "pool_orientations",
    ]
