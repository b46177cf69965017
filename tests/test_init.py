"""`archinspect init` (README "Signal propagation at initialization"): the signal at every
conv and dense layer of a real network at initialization, and its verdict."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from archinspect.build import build_abstract
from archinspect.build.init_weights import draw
from archinspect.cli import app
from archinspect.commands.init import init_report
from archinspect.errors import SpecError, UsageError
from archinspect.spec.load import load_spec_text

runner = CliRunner()


def convnet(w_std: float | str, depth: int = 30, hidden: int = 32, res: int = 8, **init):
    extra = "".join(f", {k}: {v}" for k, v in init.items())
    return load_spec_text(
        f"model: {{family: ConvNet, num_spatial_dims: 2, in_channels: 1, out_channels: 1,"
        f" hidden_channels: {hidden}, depth: {depth}, activation: relu}}\n"
        f"input: {{resolution: {res}}}\n"
        f"init: {{w_std: {w_std}{extra}}}\n",
        "deep.yaml",
    )


def test_deep_relu_convnet_stable_vanishing_exploding():
    """30 hidden layers, 31 convs. With ReLU and b_std = 0 the second moment obeys
    q_{l+1} = w_std^2 / 2 * q_l (half of a symmetric pre-activation survives ReLU), so the rms
    ratio of the last conv to the first is (w_std^2 / 2)^((31 - 1) / 2):
    w_std = sqrt 2: 1; w_std = 1: 2^-15 = 3.05e-5; w_std = 3: 4.5^15 = 6.4e9."""
    reports = {w: init_report(convnet(w), batch=4) for w in (math.sqrt(2), 1.0, 3.0)}
    he, low, high = reports[math.sqrt(2)], reports[1.0], reports[3.0]
    n = len(he.layers)
    assert n == 31
    assert [r.path for r in he.layers] == [f"layers[{i}]" for i in range(31)]
    # Not flagged at He init; flagged at 1 and 3.
    assert (he.exploding, he.vanishing) == (False, False)
    assert he.verdict in ("critical", "ordered", "chaotic")
    assert (low.verdict, low.vanishing, low.exploding) == ("vanishing", True, False)
    assert (high.verdict, high.exploding, high.vanishing) == ("exploding", True, False)
    # Expected ratios by hand (the mean-field, infinite-width value), up to the finite-width
    # drift of one network: its rms is log-normal, with a median below the mean-field value by
    # about exp(-5 L / (4 n)) for ReLU (Hanin & Nica 2019, dense layers) = exp(-5 * 30 / 128)
    # = 0.31 at n = 32 channels. Measured for seeds 0-3: 0.50, 0.30, 0.23, 0.26.
    for w, r in reports.items():
        expected = (w * w / 2) ** ((n - 1) / 2)
        assert 0.1 < r.std_ratio / expected < 2, (w, r.std_ratio, expected)
    # Exactly, with the same draws: ReLU is positively homogeneous and biases are zero, so
    # scaling every weight by w / sqrt 2 scales layer l's output by (w / sqrt 2)^(l + 1) and
    # the ratio by (w^2 / 2)^(30 / 2).
    assert low.std_ratio / he.std_ratio == pytest.approx(0.5**15, rel=1e-3)
    assert high.std_ratio / he.std_ratio == pytest.approx(4.5**15, rel=1e-3)
    # The measured correlation map of ReLU has chi = 1 at c = 1 whatever w_std is.
    assert he.chi == pytest.approx(low.chi, rel=1e-3)


def test_statistics_against_an_independent_computation():
    """The first conv's output recomputed directly (the drawn layer called on each input, no
    recorder, no vmap), and the last layer's gradient: the loss is sum(y * g) and the last conv
    is the output (identity final activation), so its gradient is g itself."""
    spec = convnet(1.0, depth=2, hidden=4, res=6, b_std=0.5)
    batch, seed = 4, 3
    report = init_report(spec, batch=batch, seed=seed)
    # The documented draws: inputs, the moved input's noise, then g (numpy, from [seed, 1]).
    rng = np.random.default_rng([seed, 1])
    x = rng.standard_normal((batch, 1, 6, 6)).astype(np.float32)
    rng.standard_normal((1, 6, 6))
    g = rng.standard_normal((batch, 1, 6, 6))
    model = draw(build_abstract(spec, real_seed=seed), spec.init, seed).model
    z = np.stack([np.asarray(model.layers[0](xi), np.float64) for xi in x])
    first = report.layers[0]
    assert first.mean == pytest.approx(z.mean(), rel=1e-5)
    assert first.std == pytest.approx(z.std(), rel=1e-5)
    assert first.rms == pytest.approx(np.sqrt((z**2).mean()), rel=1e-5)
    flat = z.reshape(batch, -1)
    pairs = [np.corrcoef(flat[0], flat[1])[0, 1], np.corrcoef(flat[2], flat[3])[0, 1]]
    assert first.corr == pytest.approx(np.mean(pairs), rel=1e-4)
    last = report.layers[-1]
    assert last.grad_norm == pytest.approx(
        np.sqrt(np.mean(np.sum(g.reshape(batch, -1) ** 2, axis=1))), rel=1e-6
    )


def test_weights_are_drawn_with_the_fan_in_of_their_shape():
    """hidden 8, kernel 3 in 2-D: fan_in = 8 * 3 * 3 = 72 for the hidden convs, so the weight
    std is w_std / sqrt(72); biases N(0, b_std^2); ntk stores N(0, 1)."""
    spec = convnet(2.0, depth=2, hidden=8, res=4, b_std=0.3)
    model = draw(build_abstract(spec, real_seed=0), spec.init, 0).model
    w = np.asarray(model.layers[1].weight)
    assert w.shape == (8, 8, 3, 3)
    # 576 draws: the sample std is within 4 standard errors (1 / sqrt(2 * 576) = 3 %).
    assert np.std(w) == pytest.approx(2.0 / math.sqrt(72), rel=0.12)
    assert np.std(np.asarray(model.layers[1].bias)) == pytest.approx(0.3, rel=0.5)
    ntk = convnet(2.0, depth=2, hidden=8, res=4, b_std=0.3, parameterization="ntk")
    stored = draw(build_abstract(ntk, real_seed=0), ntk.init, 0)
    assert np.std(np.asarray(stored.model.layers[1].weight)) == pytest.approx(1.0, rel=0.12)
    # What the ntk layer computes with: the standard draw, float for float.
    scaled = stored.effective(stored.model)
    np.testing.assert_array_equal(np.asarray(scaled.layers[1].weight), w)


def test_ntk_and_standard_give_the_same_forward_statistics():
    """ntk: W = eps and the layer uses w_std / sqrt(fan_in) * eps; standard: W = w_std /
    sqrt(fan_in) * eps, the same eps (same seed): the same numbers go through every layer."""
    standard = init_report(convnet(1.5, depth=3, hidden=4, res=6, b_std=0.2), batch=2)
    ntk = init_report(
        convnet(1.5, depth=3, hidden=4, res=6, b_std=0.2, parameterization="ntk"), batch=2
    )
    assert ntk.parameterization == "ntk"
    for a, b in zip(standard.layers, ntk.layers, strict=True):
        for field in ("mean", "std", "rms", "corr", "grad_norm", "perturbation"):
            assert getattr(a, field) == pytest.approx(getattr(b, field), rel=1e-5, abs=1e-7)
    assert standard.verdict == ntk.verdict


def _write(tmp_path, text: str) -> str:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return str(path)


SMALL = (
    "model: {family: ConvNet, num_spatial_dims: 2, in_channels: 1, out_channels: 1,"
    " hidden_channels: 4, depth: 3}\ninput: {resolution: 8}\n"
)


def test_cli_json_is_deterministic_with_a_seed(tmp_path):
    path = _write(tmp_path, SMALL + "init: {w_std: 1.4142, b_std: 0.1}\n")
    args = ["init", path, "--seed", "7", "--batch", "4", "-f", "json"]
    first = runner.invoke(app, args)
    second = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert first.stdout == second.stdout
    data = json.loads(first.stdout)
    assert [row["path"] for row in data["layers"]] == [f"layers[{i}]" for i in range(4)]
    assert set(data["layers"][0]) >= {"path", "mean", "std", "corr", "grad_norm"}
    assert data["std_ratio"] == pytest.approx(data["layers"][-1]["rms"] / data["layers"][0]["rms"])
    assert data["verdict"] in ("ordered", "critical", "chaotic", "exploding", "vanishing")
    assert data["rule"].startswith("std_ratio = rms of the last layer")
    other = runner.invoke(app, ["init", path, "--seed", "8", "--batch", "4", "-f", "json"])
    assert other.stdout != first.stdout


def test_memory_refusal_names_the_size(tmp_path):
    path = _write(tmp_path, SMALL)
    result = runner.invoke(app, ["init", path, "--max-memory", "1000"])
    assert result.exit_code == 2
    assert "archinspect init needs about" in result.stderr
    assert "above the limit of 1,000 bytes" in result.stderr
    assert "Traceback" not in result.output
    with pytest.raises(UsageError, match=r"needs about [\d,]+ bytes \(.*\), above the limit"):
        init_report(load_spec_text(SMALL, "s.yaml"), max_bytes=1000)


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            "init: {w_std: -1}",
            ":4:15: init.w_std: must be a positive number, got -1",
        ),
        (
            "init: {parameterization: ntx}",
            "init.parameterization: must be one of 'standard', 'ntk', got 'ntx'; "
            "did you mean 'ntk'?",
        ),
        (
            "init: {w_sdt: 2}",
            ":4:8: init.w_sdt: unknown key 'w_sdt'; did you mean 'w_std'? "
            "(allowed: w_std, b_std, parameterization)",
        ),
        ("init: {b_std: -0.5}", "init.b_std: must be a number >= 0, got -0.5"),
        ("init: he", "init: must be `default` or a mapping with w_std, b_std, parameterization"),
    ],
)
def test_bad_init_values_are_located(tmp_path, block, message):
    path = _write(tmp_path, SMALL + "# init\n" + block + "\n")
    with pytest.raises(SpecError, match="init"):
        load_spec_text(SMALL + "# init\n" + block + "\n", "s.yaml")
    result = runner.invoke(app, ["init", path])
    assert result.exit_code == 2
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.output


def test_default_keeps_the_family_initializer(tmp_path):
    spec = load_spec_text(SMALL + "init: default\n", "s.yaml")
    assert spec.init.default
    report = init_report(spec, batch=2)
    assert report.w_std is None and report.init == "the family's own initializer"
    # torch-style uniform(+-1/sqrt(fan_in)) has variance 1 / (3 fan_in): w_std^2 = 1/3, so
    # ReLU halves it and more at every layer: the signal shrinks.
    assert report.layers[-1].rms < report.layers[0].rms


def test_sweep_over_init_w_std(tmp_path):
    """`init.w_std` is a sweepable path; the init metrics give the output std and verdict. The
    ReLU net with zero biases is positively homogeneous: scaling w_std by 2 scales the last
    (4th) conv's output by 2^4 = 16, the same draws being used at every value."""
    path = _write(tmp_path, SMALL)
    result = runner.invoke(
        app,
        [
            "sweep",
            path,
            "--param",
            "init.w_std",
            "--values",
            "1,2",
            "--metrics",
            "init_std,init_verdict",
            "-f",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    assert [r["init.w_std"] for r in rows] == [1, 2]
    assert rows[1]["init_std"] / rows[0]["init_std"] == pytest.approx(16, rel=1e-4)
    assert all(
        r["init_verdict"] in ("ordered", "critical", "chaotic", "vanishing", "exploding")
        for r in rows
    )
    bad = runner.invoke(app, ["sweep", path, "--param", "init.w_sdt", "--values", "1"])
    assert bad.exit_code == 2
    assert "init.w_std" in bad.stderr


def _tanh_moments(q: float) -> tuple[float, float]:
    """E[tanh(sqrt(q) z)^2] and E[tanh'(sqrt(q) z)^2], z ~ N(0, 1), by the trapezoid rule on
    [-12, 12] with 200,001 points (independent of archinspect's quadrature)."""
    z = np.linspace(-12.0, 12.0, 200_001)
    weight = np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    t = np.tanh(math.sqrt(q) * z)
    return float(np.trapezoid(t * t * weight, z)), float(np.trapezoid((1 - t * t) ** 2 * weight, z))


def test_mean_field_block_for_the_spec_activation(tmp_path):
    """tanh at (sigma_w^2, sigma_b^2) = (1.761, 0.05): q* solves q = 1.761 E[tanh^2] + 0.05
    (iterated here to the fixed point) and chi1 = 1.761 E[tanh'^2] at q*, close to 1 on the
    critical line; ReLU at w_std = 3 (sigma_w^2 = 9 > 2) has no finite q*, chi1 = 9 / 2."""
    tanh = (
        "model: {family: ConvNet, num_spatial_dims: 2, in_channels: 1, out_channels: 1,"
        " hidden_channels: 4, depth: 2, activation: tanh}\ninput: {resolution: 6}\n"
        f"init: {{w_std: {math.sqrt(1.761)}, b_std: {math.sqrt(0.05)}}}\n"
    )
    result = runner.invoke(app, ["init", _write(tmp_path, tanh), "--batch", "2", "-f", "json"])
    assert result.exit_code == 0, result.output
    block = json.loads(result.stdout)["mean_field"]
    q = 1.0
    for _ in range(200):
        q = 1.761 * _tanh_moments(q)[0] + 0.05
    chi1 = 1.761 * _tanh_moments(q)[1]
    assert block["activation"] == "tanh"
    assert block["q_star"] == pytest.approx(q, rel=1e-4)
    assert block["chi1"] == pytest.approx(chi1, rel=1e-4)
    assert block["chi1"] == pytest.approx(1.0, abs=2e-3)
    relu = runner.invoke(
        app, ["init", _write(tmp_path, SMALL + "init: {w_std: 3}\n"), "--batch", "2", "-f", "json"]
    )
    block = json.loads(relu.stdout)["mean_field"]
    assert (block["q_star"], block["chi1"]) == (None, 4.5)
    assert "grows without bound" in block["note"]
    default = runner.invoke(app, ["init", _write(tmp_path, SMALL), "--batch", "2", "-f", "json"])
    assert json.loads(default.stdout)["mean_field"] is None


def test_phase_diagram_refuses_a_bad_suffix(tmp_path):
    result = runner.invoke(
        app, ["init", _write(tmp_path, SMALL), "--phase-diagram", str(tmp_path / "p.pdf")]
    )
    assert result.exit_code == 2
    assert "--phase-diagram writes .png or .svg files, got" in result.stderr


@pytest.mark.slow
def test_phase_diagram_measures_the_grid(tmp_path):
    """5 x 4 networks measured; the theory line is ReLU's sigma_w^2 = 2 at every sigma_b^2."""
    from archinspect.commands.init import GRID_SB2, GRID_SW2, phase_diagram

    deeper = SMALL.replace("depth: 3", "depth: 10")
    plane = phase_diagram(load_spec_text(deeper, "s.yaml"), batch=2)
    assert plane.activation == "relu"
    assert set(plane.sw2) == {2.0}
    assert [(p.sw2, p.sb2) for p in plane.points] == [(w, b) for w in GRID_SW2 for b in GRID_SB2]
    # ReLU without biases: q is multiplied by sigma_w^2 / 2 per layer; 10 of them (11 convs)
    # at sigma_w^2 = 0.5 give an rms ratio of (1/4)^(10/2) = 1e-3 < 0.1: vanishing; at 3.5,
    # 1.75^5 = 16: growing (exploding, or close to it for 4 channels' finite-width drift).
    assert plane.points[0].verdict == "vanishing"
    assert plane.points[len(GRID_SB2) * (len(GRID_SW2) - 1)].verdict != "vanishing"
    out = tmp_path / "p.svg"
    result = runner.invoke(
        app, ["init", _write(tmp_path, SMALL), "--batch", "2", "--phase-diagram", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("<?xml")


def test_target_layers_are_redrawn_too(tmp_path):
    """A `target:` (Equinox's own Conv2d): its weight is re-drawn with fan_in = 2 * 3 * 3 = 18
    and w_std = 3: std 3 / sqrt(18) = 0.707 over 4 * 2 * 9 = 72 draws (+-4 standard errors of
    1 / sqrt(144) = 8 % each)."""
    spec = load_spec_text(
        "model: {target: equinox.nn.Conv2d, in_channels: 2, out_channels: 4, kernel_size: 3}\n"
        "input: {resolution: [5, 5]}\ninit: {w_std: 3, b_std: 0}\n",
        "t.yaml",
    )
    drawn = draw(build_abstract(spec, real_seed=0), spec.init, 0)
    assert drawn.layers == ("",)
    assert np.std(np.asarray(drawn.model.weight)) == pytest.approx(3 / math.sqrt(18), rel=0.35)
    np.testing.assert_array_equal(np.asarray(drawn.model.bias), 0.0)
    with pytest.raises(UsageError, match=r"compares the signal across conv and dense layers"):
        init_report(spec)


def test_every_format_shows_every_layer_and_the_verdict():
    from archinspect.render import csv as csv_render
    from archinspect.render import markdown, table

    report = init_report(load_spec_text(SMALL + "init: {w_std: 1.5}\n", "s.yaml"), batch=2)
    texts = {
        "table": table.init_table(report, width=200),
        "markdown": markdown.init_markdown(report),
        "csv": csv_render.init_csv(report),
    }
    for fmt, text in texts.items():
        for row in report.layers:
            assert row.path in text, (fmt, row.path)
            assert f"{row.corr:.3f}" in text or str(row.corr) in text, (fmt, row.path)
    for fmt in ("table", "markdown"):
        assert report.verdict in texts[fmt] and "std_ratio = rms" in texts[fmt]
        assert "mean field" in texts[fmt] and "relu at σ_w² = 2.25" in texts[fmt]
