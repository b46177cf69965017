"""`archinspect sweep`: scaling laws recovered from exact counts, value sources, grids, invalid
rows, renderers, plots, and the no-compile/performance sanity checks.

Every expected count is hand-derived arithmetic (no call into archinspect), with these
conventions (the same as tests/test_counts.py):

- a conv with kernel size k in d dimensions from a to b channels has b*a*k**d weights plus b
  biases; GroupNorm over C channels has 2*C parameters;
- ConvNet(depth D) = lifting conv (in -> h), D-1 hidden convs (h -> h), projection (h -> out):
  D+1 convs in all, each with the same kernel k;
- a 3-kernel conv reaches 1 cell each way, a k-kernel (k odd) (k-1)/2 cells each way, so a
  ConvNet's receptive field is (D+1)*(k-1)/2 per side (independent of the width);
- ClassicResNet = 1x1 lifting, B blocks of two 3-convs h -> h (no norm by default), 1x1
  projection: receptive field 2*B per side;
- ClassicFNO = 1x1 lifting, B blocks of (spectral conv + 1x1 bypass conv), 1x1 projection; a
  spectral conv has 2**(d-1) corner blocks of h*h*modes**d complex weights, two reals each.

About the fitted exponents: a law is fitted in log-log over the upper half of the swept range.
The counts are polynomials with lower-order terms (biases, lifting and projection layers), so
the fitted exponent sits slightly off the integer; each test states its tolerance and why. The
law *name* must be exact.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import re
import time
import xml.etree.ElementTree as ET

import jax.monitoring
import pytest
from typer.testing import CliRunner

from archinspect.cli import app
from archinspect.commands.sweep import CHEAP_METRICS, run_sweep, values_for
from archinspect.render.json import sweep_json as render_sweep_json
from archinspect.report import SweepResult
from archinspect.spec.load import load_spec_text

runner = CliRunner()

COUNTS = ("params", "learnable_params")
WITH_RF = ("params", "learnable_params", "receptive_field")


def invoke(*args: str):
    return runner.invoke(app, list(args))


def spec_text(family: str, d: int, resolution, **model) -> str:
    body = {"family": family, "num_spatial_dims": d, "in_channels": 1, "out_channels": 1}
    body.update(model)
    # JSON is YAML: one flow mapping per section keeps the spec text exact.
    return f"model: {json.dumps(body)}\ninput: {json.dumps({'resolution': resolution})}\n"


def unet_target_text(resolution) -> str:
    """A ClassicUNet (hidden 1, 2 levels) by `target:`: a model whose forward pass fails on
    sizes 4 does not divide. As `family: ClassicUNet` validation would refuse those (its
    declared input rule, README "The spec file"); a target declares none, so the rows run."""
    text = spec_text("ClassicUNet", 1, resolution, hidden_channels=1, num_levels=2)
    return text.replace(
        '"family": "ClassicUNet"', '"target": "archinspect.models.u_net:ClassicUNet"'
    )


def api_sweep(text: str, param: str, given=None, metrics=COUNTS) -> SweepResult:
    """One-parameter sweep through the Python API; values from `given`, else the default."""

    def loader(extra: list[str]):
        return load_spec_text(text, "t.yaml", extra, "t")

    base = loader([])
    return run_sweep(loader, base, [param], [values_for(param, base, given)], metrics)


def column(result: SweepResult, metric: str) -> list:
    assert all(row.error is None for row in result.rows), [r.error for r in result.rows]
    return [row.metrics[metric] for row in result.rows]


def swept(result: SweepResult) -> list:
    name = result.swept[0]
    return [row.values[name] for row in result.rows]


def rf_per_side(result: SweepResult) -> list:
    return [row.metrics["receptive_field"].per_axis for row in result.rows]


# --------------------------------------------------------------------------------------------
# hand-derived counts


def convnet_params(h: int, depth: int, k: int, d: int) -> int:
    kd = k**d
    lifting = kd * 1 * h + h  # 1 -> h
    hidden = (depth - 1) * (kd * h * h + h)  # D-1 convs h -> h
    projection = kd * h * 1 + 1  # h -> 1
    return lifting + hidden + projection


def convnet_rf(depth: int, k: int) -> int:
    return (depth + 1) * (k - 1) // 2  # D+1 convs, (k-1)/2 cells per side each


def classic_resnet_params(h: int, blocks: int, d: int) -> int:
    lifting = h + h  # 1x1, 1 -> h
    block = 2 * (3**d * h * h + h)  # two 3-convs h -> h, no norm
    projection = h + 1  # 1x1, h -> 1
    return lifting + blocks * block + projection


def fno_params(h: int, modes: int, blocks: int, d: int) -> int:
    lifting = h + h  # 1x1, 1 -> h
    spectral = 2 ** (d - 1) * h * h * modes**d * 2  # corner blocks, complex = 2 reals
    bypass = h * h + h  # 1x1, h -> h
    projection = h + 1  # 1x1, h -> 1
    return lifting + blocks * (spectral + bypass) + projection


def classic_unet_params(h: int, levels: int, d: int) -> int:
    def conv(ci: int, co: int, k: int = 3) -> int:
        return co * ci * k**d + co

    def double(ci: int, co: int) -> int:  # conv, norm, conv, norm
        return conv(ci, co) + conv(co, co) + 2 * (2 * co)

    total = double(1, h)  # lifting
    for i in range(levels):
        c_prev, c_here = h * 2**i, h * 2 ** (i + 1)
        total += conv(c_prev, c_prev)  # stride-2 down-sampling conv
        total += double(c_prev, c_here)  # left arc
        total += conv(c_here, c_here // 2)  # up-sampling conv
        total += double(c_here // 2 + c_prev, c_prev)  # right arc: up + skip channels
    return total + conv(h, 1, k=1)  # 1x1 projection


def classic_unet_rf(levels: int) -> int:
    """Per side, by interval arithmetic along every path of the UNet (1-D, periodic).

    Output cell x, walked back to the input. Resolution r has cells of 2**r input cells. A
    double conv (two 3-convs) widens an interval [lo, hi] by 2 at its resolution; a stride-2
    3-conv from resolution r to r+1 makes output j depend on 2j-1..2j+1; the stride-2 up conv
    (zero insertion, 3 taps) makes fine cell i depend on the coarse j with |i - 2j| <= 1. A path
    climbs from the output through the right arcs to resolution m, takes the skip there (the
    left arc of level m, or the lifting block at m = 0) and goes down to the input; the
    receptive field is the hull over all paths, the maximum over x modulo 2**L.
    """
    back = fwd = 0
    for x in range(2**levels):
        lo_all = hi_all = x
        for m in range(levels + 1):  # the resolution where this path takes its skip
            lo, hi = x - 2, x + 2  # right arc at resolution 0
            for r in range(m):  # up conv r+1 -> r, then the right arc at r+1 (none at L)
                lo, hi = -((1 - lo) // 2), (hi + 1) // 2
                if r + 1 < levels:
                    lo, hi = lo - 2, hi + 2
            for _ in range(m):  # left arc at the coarser resolution, then its down conv
                lo, hi = lo - 2, hi + 2
                lo, hi = 2 * lo - 1, 2 * hi + 1
            lo, hi = lo - 2, hi + 2  # lifting block
            lo_all, hi_all = min(lo_all, lo), max(hi_all, hi)
        back, fwd = max(back, x - lo_all), max(fwd, hi_all - x)
    assert back == fwd
    return back


def test_hand_formulas_match_the_spec_reference_figures():
    # README "Families" reference figures (1-D, in = out = 1, defaults) and tests/test_cli.py's
    # 2-D UNet.
    assert convnet_params(16, 10, 3, 1) == 7_169
    assert convnet_params(32, 10, 3, 1) == 28_161
    assert convnet_rf(10, 3) == 11
    assert classic_resnet_params(32, 6, 1) == 37_345
    assert fno_params(32, 12, 4, 1) == 102_625
    assert classic_unet_params(16, 4, 2) == 2_357_441
    # the interval walk gives 10, 26, 58, 122, 250: 2**(L+3) - 6
    assert [classic_unet_rf(L) for L in range(1, 7)] == [2 ** (L + 3) - 6 for L in range(1, 7)]


# --------------------------------------------------------------------------------------------
# scaling laws, through the Python API (only the metrics each law needs)


@functools.cache
def unet_levels_sweep() -> SweepResult:
    # default range for num_levels (1..5); 32 cells are divisible by 2**5
    text = spec_text("ClassicUNet", 1, 32, hidden_channels=1)
    return api_sweep(text, "num_levels", None, WITH_RF)


class TestLaws:
    def test_hidden_channels_quadratic_and_rf_constant_in_width(self):
        text = spec_text("ConvNet", 1, 64)
        result = api_sweep(text, "hidden_channels", None, WITH_RF)
        assert swept(result) == [4, 8, 16, 32, 64, 128]  # the default range
        hs = swept(result)
        assert column(result, "params") == [convnet_params(h, 10, 3, 1) for h in hs]
        assert column(result, "learnable_params") == column(result, "params")
        assert rf_per_side(result) == [((11, 11),)] * 6
        fit = result.fits["params"]
        assert fit.law == "quadratic"
        # 27h^2 + 16h + 1: the linear term pulls the slope below 2 (1.985 over h = 16..128)
        assert abs(fit.exponent - 2.0) < 0.05
        assert fit.r2 > 0.9999
        rf = result.fits["receptive_field"]
        assert (rf.law, rf.exponent, rf.r2) == ("constant", 0.0, 1.0)

    def test_2d_convnet_hidden_channels_quadratic_over_ten_widths(self):
        widths = [4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]
        result = api_sweep(spec_text("ConvNet", 2, 32), "hidden_channels", widths)
        assert column(result, "params") == [convnet_params(h, 10, 3, 2) for h in widths]
        assert column(result, "params")[-1] == 339_795_969
        fit = result.fits["params"]
        assert fit.law == "quadratic"
        assert abs(fit.exponent - 2.0) < 0.01  # 1.9986: the 1/h terms vanish at these widths

    def test_depth_linear_in_params_and_rf(self):
        result = api_sweep(spec_text("ConvNet", 1, 64), "depth", None, WITH_RF)
        depths = swept(result)
        assert depths == list(range(1, 11))
        # 784*D - 671: lifting + projection (113) replace one hidden conv (784)
        assert column(result, "params") == [784 * depth - 671 for depth in depths]
        assert column(result, "params") == [convnet_params(16, D, 3, 1) for D in depths]
        assert rf_per_side(result) == [((D + 1, D + 1),) for D in depths]
        fit = result.fits["params"]
        assert fit.law == "linear"
        # the negative offset (-671) steepens the slope: 1.141 over D = 5..10; 0.15 is the
        # naming tolerance for "linear"
        assert abs(fit.exponent - 1.0) < 0.15
        rf = result.fits["receptive_field"]
        assert rf.law == "linear"
        # D + 1 flattens it: 0.875 over D = 5..10
        assert abs(rf.exponent - 1.0) < 0.15

    def test_kernel_size_linear_in_1d(self):
        result = api_sweep(spec_text("ConvNet", 1, 64), "kernel_size", None, WITH_RF)
        ks = swept(result)
        assert ks == [1, 3, 5, 7, 9, 11]  # odd sizes by default
        assert column(result, "params") == [2336 * k + 161 for k in ks]
        assert column(result, "params") == [convnet_params(16, 10, k, 1) for k in ks]
        assert rf_per_side(result) == [((convnet_rf(10, k),) * 2,) for k in ks]
        assert rf_per_side(result)[0] == ((0, 0),)  # a 1x1 ConvNet sees only its own cell
        fit = result.fits["params"]
        assert fit.law == "linear"
        assert abs(fit.exponent - 1.0) < 0.05  # 0.9905: offset +161 on 2336k

    def test_convnet_rf_linear_in_kernel_size(self):
        result = api_sweep(spec_text("ConvNet", 1, 64), "kernel_size", None, WITH_RF)
        assert [b + f for ((b, f),) in rf_per_side(result)] == [11 * (k - 1) for k in swept(result)]
        rf = result.fits["receptive_field"]
        assert rf.law == "linear"
        assert abs(rf.exponent - 1.0) < 0.15

    def test_kernel_size_quadratic_in_2d(self):
        result = api_sweep(spec_text("ConvNet", 2, 16), "kernel_size")
        ks = swept(result)
        assert column(result, "params") == [2336 * k * k + 161 for k in ks]
        assert column(result, "params") == [convnet_params(16, 10, k, 2) for k in ks]
        fit = result.fits["params"]
        assert fit.law == "quadratic"
        assert abs(fit.exponent - 2.0) < 0.05  # 1.9972: offset +161 on 2336k^2

    def test_num_blocks_linear_for_resnet(self):
        result = api_sweep(spec_text("ClassicResNet", 1, 64), "num_blocks", None, WITH_RF)
        blocks = swept(result)
        assert blocks == list(range(1, 9))
        assert column(result, "params") == [97 + 6208 * b for b in blocks]
        assert column(result, "params") == [classic_resnet_params(32, b, 1) for b in blocks]
        assert rf_per_side(result) == [((2 * b, 2 * b),) for b in blocks]
        fit = result.fits["params"]
        assert fit.law == "linear"
        assert abs(fit.exponent - 1.0) < 0.05  # 0.997: offset +97
        rf = result.fits["receptive_field"]
        assert rf.law == "linear"
        assert rf.exponent == pytest.approx(1.0, abs=1e-9)  # 2B has no offset at all
        assert rf.r2 == pytest.approx(1.0, abs=1e-12)

    def test_fno_modes_linear_in_1d(self):
        text = spec_text("ClassicFNO", 1, 128)
        result = api_sweep(text, "num_modes", None, WITH_RF)
        modes = swept(result)
        assert modes == [2, 4, 8, 16, 32]
        # 64 + 4*(2*32*32*m + 1056) + 33 = 8192m + 4321
        assert column(result, "params") == [8192 * m + 4321 for m in modes]
        assert column(result, "params") == [fno_params(32, m, 4, 1) for m in modes]
        assert rf_per_side(result) == [((math.inf, math.inf),)] * 5
        fit = result.fits["params"]
        assert fit.law == "linear"
        # the bypass convs and lifting/projection (4321) weigh 1/4 at m=4: slope 0.949
        assert abs(fit.exponent - 1.0) < 0.1
        assert "receptive_field" not in result.fits  # infinite: no law

    def test_fno_modes_quadratic_in_2d(self):
        result = api_sweep(spec_text("ClassicFNO", 2, 64), "num_modes")
        modes = swept(result)
        # 2 corner blocks of 32*32*m^2 complex weights per block: 16384m^2 + 4321
        assert column(result, "params") == [16384 * m * m + 4321 for m in modes]
        assert column(result, "params") == [fno_params(32, m, 4, 2) for m in modes]
        fit = result.fits["params"]
        assert fit.law == "quadratic"
        assert abs(fit.exponent - 2.0) < 0.05  # 1.9926

    def test_unet_rf_exponential_in_levels(self):
        result = unet_levels_sweep()
        levels = swept(result)
        assert levels == [1, 2, 3, 4, 5]
        assert column(result, "params") == [classic_unet_params(1, L, 1) for L in levels]
        assert column(result, "params") == [70, 254, 910, 3374, 12910]
        assert rf_per_side(result) == [((classic_unet_rf(L),) * 2,) for L in levels]
        rf = result.fits["receptive_field"]
        assert rf.law == "exponential, base 2.0"
        assert rf.r2_exponential > rf.r2  # log-linear beats log-log
        # backward + forward is 2*(2**(L+3) - 6) = 2**(L+4) - 12: base exactly 2 with an additive
        # offset. A plain log-linear fit over L = 2..5 would read 2.124 (the -12 steepens it);
        # the base comes from the ratio of successive differences, 2**(L+5)/2**(L+4) = 2, so it
        # is 2 up to rounding.
        assert rf.base == pytest.approx(2.0, abs=1e-12)
        assert round(rf.base, 1) == 2.0

    def test_no_compile_for_cheap_metrics(self, monkeypatch):
        """Sweeps trace abstractly; XLA compiles only when FLOPs or memory are asked for."""
        compiles: list[str] = []

        def listener(name: str, *_args, **_kwargs) -> None:
            if name == "/jax/core/compile/backend_compile_duration":
                compiles.append(name)

        jax.monitoring.register_event_duration_secs_listener(listener)
        text = spec_text("ConvNet", 2, 32)
        result = api_sweep(text, "hidden_channels", [4, 8, 16], CHEAP_METRICS)
        assert column(result, "params") == [convnet_params(h, 10, 3, 2) for h in (4, 8, 16)]
        assert compiles == []
        # the control: the same listener does see the compiles of a FLOPs row (compiled
        # afresh: an earlier test of the session may have kept its figures, README "Caching")
        monkeypatch.setenv("ARCHINSPECT_NO_CACHE", "1")
        tiny = spec_text("ConvNet", 1, 8, depth=1)
        api_sweep(tiny, "hidden_channels", [1], ("params", "flops"))
        assert compiles != []


# --------------------------------------------------------------------------------------------
# the command: value sources, grids, any argument, invalid rows


def sweep_json(*args: str) -> dict:
    result = invoke("sweep", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def specs(tmp_path, monkeypatch):
    """Small specs in a temporary directory that is also the working directory."""
    monkeypatch.chdir(tmp_path)
    files = {
        # 1-D ConvNet, defaults otherwise (hidden 16, depth 10, kernel 3)
        "c1.yaml": spec_text("ConvNet", 1, 64),
        # 2-D ConvNet, hidden 4, depth 2, 16x16
        "c2.yaml": spec_text("ConvNet", 2, [16, 16], hidden_channels=4, depth=2),
        # 1-D ConvNet of two convs over 8 cells: the cheapest program to compile
        "tiny.yaml": spec_text("ConvNet", 1, 8, depth=1),
        # a sweep: block for input.resolution
        "res.yaml": spec_text("ConvNet", 1, 64, hidden_channels=2, depth=1)
        + "sweep: {input.resolution: [8, 24]}\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


@pytest.mark.usefixtures("repo_root")
class TestValueSources:
    def test_from_the_spec_sweep_block(self):
        data = sweep_json("configs/convnet.yaml", "--param", "hidden_channels")
        hs = [4, 8, 16, 32, 64]  # configs/convnet.yaml's sweep: block
        assert [row["hidden_channels"] for row in data["rows"]] == hs
        assert [row["params"] for row in data["rows"]] == [convnet_params(h, 10, 3, 1) for h in hs]
        assert [row["params"] for row in data["rows"]] == [497, 1857, 7169, 28161, 111617]
        assert [row["receptive_field"] for row in data["rows"]] == [[[11, 11]]] * 5
        assert data["fits"]["params"]["law"] == "quadratic"
        assert abs(data["fits"]["params"]["exponent"] - 2.0) < 0.05  # 1.9702, 27h^2+16h+1
        assert data["fits"]["receptive_field"] == {"exponent": 0.0, "law": "constant", "r2": 1.0}

    def test_dotted_param_name_reads_the_same_block(self):
        data = sweep_json("configs/convnet.yaml", "--param", "model.hidden_channels")
        assert data["swept"] == ["hidden_channels"]
        assert [row["hidden_channels"] for row in data["rows"]] == [4, 8, 16, 32, 64]

    def test_flag_wins_over_the_block(self):
        data = sweep_json("configs/convnet.yaml", "--param", "hidden_channels", "--values", "2,3")
        assert [row["hidden_channels"] for row in data["rows"]] == [2, 3]
        assert [row["params"] for row in data["rows"]] == [
            convnet_params(2, 10, 3, 1),  # 27*4 + 32 + 1 = 141
            convnet_params(3, 10, 3, 1),  # 27*9 + 48 + 1 = 292
        ]
        assert [row["params"] for row in data["rows"]] == [141, 292]

    def test_default_range_when_neither(self):
        data = sweep_json("configs/convnet.yaml", "--param", "depth")
        assert [row["depth"] for row in data["rows"]] == list(range(1, 11))
        assert [row["params"] for row in data["rows"]] == [784 * D - 671 for D in range(1, 11)]
        assert [row["receptive_field"] for row in data["rows"]] == [
            [[D + 1, D + 1]] for D in range(1, 11)
        ]
        assert data["fits"]["params"]["law"] == "linear"
        assert data["fits"]["receptive_field"]["law"] == "linear"

    def test_fno_block_and_infinite_rf_in_json(self):
        data = sweep_json("configs/fno.yaml", "--param", "num_modes")
        modes = [2, 4, 8, 16, 32]  # configs/fno.yaml's sweep: block
        assert [row["num_modes"] for row in data["rows"]] == modes
        assert [row["params"] for row in data["rows"]] == [fno_params(32, m, 4, 1) for m in modes]
        assert [row["receptive_field"] for row in data["rows"]] == [[["inf", "inf"]]] * 5
        assert [row["output_shape"] for row in data["rows"]] == [[1, 128]] * 5
        assert set(data["fits"]) == {"params", "learnable_params"}
        assert data["fits"]["params"]["law"] == "linear"
        assert abs(data["fits"]["params"]["exponent"] - 1.0) < 0.1  # 0.9489, see TestLaws

    def test_grid_is_the_cartesian_product(self):
        data = sweep_json(
            "configs/convnet.yaml",
            *("--param", "hidden_channels", "--values", "4,8"),
            *("--param", "depth", "--values", "1,2,3"),
        )
        assert data["swept"] == ["hidden_channels", "depth"]
        assert len(data["rows"]) == 2 * 3
        got = [
            (r["hidden_channels"], r["depth"], r["params"], r["receptive_field"])
            for r in data["rows"]
        ]
        expected = [
            (h, D, convnet_params(h, D, 3, 1), [[D + 1, D + 1]]) for h in (4, 8) for D in (1, 2, 3)
        ]
        assert got == expected
        # e.g. h=8, D=3: lifting 3*8+8=32, two hidden 3*64+8=200 each, projection 3*8+1=25
        assert got[-1][2] == 32 + 2 * 200 + 25
        assert data["fits"] == {}  # laws are fitted for one-parameter sweeps only

    def test_grid_mixes_flag_values_and_the_block(self):
        # --values belong to the --param of the same position; the second --param has none, so
        # it takes the spec's sweep: block (5 widths)
        data = sweep_json(
            "configs/convnet.yaml",
            *("--param", "depth", "--values", "1,2"),
            *("--param", "hidden_channels"),
        )
        got = [(r["depth"], r["hidden_channels"], r["params"]) for r in data["rows"]]
        hs = [4, 8, 16, 32, 64]
        assert got == [(D, h, convnet_params(h, D, 3, 1)) for D in (1, 2) for h in hs]

    def test_grid_table_says_no_law(self):
        result = invoke(
            "sweep",
            "configs/convnet.yaml",
            *("-p", "hidden_channels", "--values", "4,8", "-p", "depth", "--values", "1,2"),
        )
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines()[0] == "convnet-1d: sweep over hidden_channels, depth"
        assert result.stdout.splitlines()[-1] == "(laws are fitted for one-parameter sweeps)"
        assert "fitted laws" not in result.stdout


class TestAnyArgument:
    def test_input_resolution_from_the_block(self, specs):
        data = sweep_json("res.yaml", "--param", "input.resolution")
        assert data["swept"] == ["input.resolution"]
        assert [r["input.resolution"] for r in data["rows"]] == [8, 24]
        assert [r["output_shape"] for r in data["rows"]] == [[1, 8], [1, 24]]
        # h=2, D=1: lifting 3*2+2=8, projection 3*2+1=7, whatever the resolution
        assert [r["params"] for r in data["rows"]] == [15, 15]
        assert data["fits"]["params"] == {"exponent": 0.0, "law": "constant", "r2": 1.0}

    def test_input_resolution_lists_on_a_2d_spec(self, specs):
        data = sweep_json("c2.yaml", "--param", "input.resolution", "--values", "[32,32],[64,48]")
        assert [r["input.resolution"] for r in data["rows"]] == [[32, 32], [64, 48]]
        assert [r["output_shape"] for r in data["rows"]] == [[1, 32, 32], [1, 64, 48]]
        # h=4, D=2, 3x3: lifting 9*4+4=40, hidden 9*16+4=148, projection 9*4+1=37
        assert [r["params"] for r in data["rows"]] == [225, 225]
        assert [r["receptive_field"] for r in data["rows"]] == [[[3, 3], [3, 3]]] * 2
        assert [r["error"] for r in data["rows"]] == [None, None]
        assert data["fits"] == {}  # list values carry no law

    def test_input_resolution_default_range(self, specs):
        data = sweep_json("c2.yaml", "--param", "input.resolution")
        sizes = [16, 32, 64, 128, 256]
        assert [r["input.resolution"] for r in data["rows"]] == sizes
        assert [r["output_shape"] for r in data["rows"]] == [[1, n, n] for n in sizes]
        assert [r["params"] for r in data["rows"]] == [225] * 5

    @pytest.mark.parametrize(
        ("param", "values"),
        [
            ("activation", ["relu", "tanh", "gelu"]),
            ("boundary_mode", ["periodic", "dirichlet", "neumann"]),
        ],
    )
    def test_string_arguments_leave_params_constant(self, specs, param, values):
        data = sweep_json("c2.yaml", "--param", param, "--values", ",".join(values))
        assert [r[param] for r in data["rows"]] == values
        assert [r["params"] for r in data["rows"]] == [225, 225, 225]
        assert [r["receptive_field"] for r in data["rows"]] == [[[3, 3], [3, 3]]] * 3
        assert [r["error"] for r in data["rows"]] == [None, None, None]
        assert data["fits"] == {}  # strings carry no law

    def test_use_bias_off_reduces_slightly(self, specs):
        data = sweep_json("c1.yaml", "--param", "use_bias", "--values", "true,false")
        assert [r["use_bias"] for r in data["rows"]] == [True, False]
        # h=16, D=10: without hidden biases 48 + 9*768 + (48+1) (the final bias stays)
        assert [r["params"] for r in data["rows"]] == [7169, 48 + 9 * 768 + 49]

    def test_set_applies_to_every_row_and_the_sweep_wins(self, specs):
        data = sweep_json(
            "c1.yaml",
            *("--set", "model.depth=2", "--set", "model.hidden_channels=99"),
            *("--param", "hidden_channels", "--values", "4,8"),
        )
        assert [r["params"] for r in data["rows"]] == [
            convnet_params(4, 2, 3, 1),  # 16 + 52 + 13 = 81
            convnet_params(8, 2, 3, 1),  # 32 + 200 + 25 = 257
        ]
        assert [r["params"] for r in data["rows"]] == [81, 257]

    def test_num_spatial_dims_with_an_invalid_row_kept(self, specs):
        # depth 2 over 8 cells keeps the 3-D row cheap
        data = sweep_json(
            "c1.yaml",
            *("--set", "model.depth=2", "--set", "input.resolution=8"),
            *("--param", "num_spatial_dims", "--values", "1,2,3,4"),
        )
        assert [r["num_spatial_dims"] for r in data["rows"]] == [1, 2, 3, 4]
        assert [r["params"] for r in data["rows"]] == [
            convnet_params(16, 2, 3, 1),  # (48+16) + (768+16) + (48+1) = 897
            convnet_params(16, 2, 3, 2),  # (144+16) + (2304+16) + (144+1) = 2625
            convnet_params(16, 2, 3, 3),  # (432+16) + (6912+16) + (432+1) = 7809
            None,
        ]
        assert [r["params"] for r in data["rows"]][:3] == [897, 2625, 7809]
        assert [r["output_shape"] for r in data["rows"]] == [[1, 8], [1, 8, 8], [1, 8, 8, 8], None]
        assert [r["receptive_field"] for r in data["rows"]] == [
            [[3, 3]],
            [[3, 3]] * 2,
            [[3, 3]] * 3,
            None,
        ]
        last = data["rows"][-1]
        assert last == {
            "num_spatial_dims": 4,
            "params": None,
            "learnable_params": None,
            "receptive_field": None,
            "output_shape": None,
            "error": "error: c1.yaml is not a valid archinspect spec (1 problem) "
            "--set model.num_spatial_dims=4: model.num_spatial_dims: must be 1, 2 or 3, got 4",
            "failed": [],  # a point that was not built has no metric to list
        }

    def test_kernel_size_zero_row_kept_with_its_message(self, specs):
        data = sweep_json("c2.yaml", "--param", "kernel_size", "--values", "0,3,5")
        assert [r["error"] for r in data["rows"]] == [
            "error: c2.yaml is not a valid archinspect spec (1 problem) "
            "--set model.kernel_size=0: model.kernel_size: must be a positive integer, got 0",
            None,
            None,
        ]
        # h=4, D=2 in 2-D: 3x3 as above; 5x5: (25*4+4) + (25*16+4) + (25*4+1) = 104+404+101
        assert [r["params"] for r in data["rows"]] == [None, 225, 609]
        assert [r["receptive_field"] for r in data["rows"]] == [None, [[3, 3]] * 2, [[6, 6]] * 2]
        # the law is fitted over the valid rows only (two points: 225 -> 609 over 3 -> 5)
        assert data["fits"]["params"]["exponent"] == round(math.log(609 / 225) / math.log(5 / 3), 4)

    def test_resolution_mismatch_row_kept(self, specs):
        # a 1-D size on a 2-D spec: the message names the file position of the resolution
        data = sweep_json("c2.yaml", "--param", "num_spatial_dims", "--values", "1,2")
        assert data["rows"][0]["error"] == (
            "error: c2.yaml is not a valid archinspect spec (1 problem) c2.yaml:2:23: "
            "input.resolution: needs one size per spatial axis (num_spatial_dims=1), got 2: "
            "[16, 16]"
        )
        assert data["rows"][1]["params"] == 225

    def test_forward_failure_row_kept(self, specs, tmp_path):
        (tmp_path / "u.yaml").write_text(unet_target_text(16), encoding="utf-8")
        data = sweep_json("u.yaml", "--param", "input.resolution", "--values", "8,10")
        assert data["rows"][0]["error"] is None
        assert data["rows"][0]["params"] == classic_unet_params(1, 2, 1)
        assert data["rows"][0]["receptive_field"] == [[26, 26]]
        # the forward pass fails at 10 cells, but the counts need none: they are kept, and the
        # metrics that need it are marked with the reason (README "Scaling laws")
        assert data["rows"][1]["params"] == classic_unet_params(1, 2, 1)
        assert data["rows"][1]["learnable_params"] == classic_unet_params(1, 2, 1)
        assert data["rows"][1]["receptive_field"] is None
        assert data["rows"][1]["output_shape"] is None
        assert data["rows"][1]["failed"] == ["receptive_field", "output_shape"]
        assert data["rows"][1]["error"] == (
            "receptive field, output shape: the forward pass of "
            "archinspect.models.u_net:ClassicUNet fails for input "
            "shape (1, 10): ValueError: a UNet with num_levels=2 needs every spatial size "
            "divisible by 2**2=4, got (10,)"
        )
        assert data["rows"][0]["failed"] == []

    def test_forward_failure_row_in_every_format(self, specs, tmp_path):
        (tmp_path / "u.yaml").write_text(unet_target_text(16), encoding="utf-8")
        args = ("sweep", "u.yaml", "--param", "input.resolution", "--values", "8,10")
        p = classic_unet_params(1, 2, 1)
        why = (
            "the forward pass of archinspect.models.u_net:ClassicUNet fails for input shape "
            "(1, 10): ValueError: a UNet with num_levels=2 needs every spatial size divisible by "
            "2**2=4, got (10,)"
        )
        result = invoke(*args, "--format", "csv")
        assert result.exit_code == 0, result.output  # one point measured in full: exit 0
        assert result.stdout.splitlines()[2] == (
            f'10,{p},{p},,,"receptive field, output shape: {why}",receptive_field;output_shape'
        )
        result = invoke(*args, "--format", "markdown")
        assert result.exit_code == 0, result.output
        assert (
            f"| 10 | {p:,} | {p:,} | failed | failed | receptive field, output shape: {why} |"
            in (result.stdout)
        )
        result = invoke(*args)
        assert result.exit_code == 0, result.output
        row = [line for line in result.stdout.splitlines() if line.startswith("│               10")]
        assert row[0].split("│")[2:6] == [
            f" {p:>6,} ",
            f" {p:>9,} ",
            " failed          ",
            " failed       ",
        ]

    def test_no_point_measured_in_full_is_exit_2_after_the_table(self, specs, tmp_path):
        (tmp_path / "u.yaml").write_text(unet_target_text(16), encoding="utf-8")
        result = invoke(
            "sweep", "u.yaml", "-p", "input.resolution", "--values", "6,10", "-f", "json"
        )
        assert result.exit_code == 2
        data = json.loads(result.stdout)  # the table is printed all the same
        assert [r["params"] for r in data["rows"]] == [classic_unet_params(1, 2, 1)] * 2
        assert [r["failed"] for r in data["rows"]] == [["receptive_field", "output_shape"]] * 2
        # the first point's error, as `shapes` says it for that spec
        assert result.stderr == (
            "error: u.yaml: the forward pass of "
            "archinspect.models.u_net:ClassicUNet fails for input shape (1, 6): "
            "ValueError: a UNet with num_levels=2 needs every spatial size divisible by "
            "2**2=4, got (6,)\n"
        )
        shapes = invoke("shapes", "u.yaml", "--set", "input.resolution=6")
        assert (shapes.exit_code, shapes.stderr) == (2, result.stderr)


class TestUsageErrors:
    def test_param_without_values_or_default(self, specs):
        # The ranges listed are the ConvNet's own (its declaration's), then the generic ones.
        result = invoke("sweep", "c1.yaml", "--param", "activation")
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr == (
            "error: no values for --param activation: give --values, or a "
            "`sweep: {activation: [...]}` block in the spec (default ranges exist for: "
            "num_spatial_dims, in_channels, out_channels, hidden_channels, depth, kernel_size, "
            "input.resolution, input.batch_size)\n"
        )

    @pytest.mark.parametrize("values", [[], ["--values", "1,2"]])
    def test_unknown_param_is_refused_before_sweeping(self, specs, values):
        result = invoke("sweep", "c1.yaml", "--param", "hiden_channels", *values)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr == (
            "error: --param hiden_channels: ConvNet has no argument 'hiden_channels'; did you "
            "mean 'hidden_channels'? (sweepable: num_spatial_dims, in_channels, out_channels, "
            "hidden_channels, depth, kernel_size, activation, final_activation, use_bias, "
            "use_final_bias, boundary_mode, input.resolution, input.batch_size)\n"
        )

    def test_no_param(self, specs):
        result = invoke("sweep", "c1.yaml")
        assert result.exit_code == 2
        assert result.stderr == (
            "error: sweep needs at least one --param, e.g. --param hidden_channels\n"
        )

    def test_more_values_than_params(self, specs):
        result = invoke("sweep", "c1.yaml", "-p", "depth", "--values", "1,2", "--values", "3")
        assert result.exit_code == 2
        assert result.stderr == "error: more --values than --param options\n"

    def test_empty_values(self, specs):
        result = invoke("sweep", "c1.yaml", "-p", "depth", "--values", "")
        assert result.exit_code == 2
        assert result.stderr == (
            "error: --values expects a comma-separated list like 4,8,16; got ''\n"
        )

    def test_bogus_metric(self, specs):
        result = invoke("sweep", "c1.yaml", "-p", "depth", "--metrics", "flops,bogus")
        assert result.exit_code == 2
        assert (
            result.stderr
            == "error: --metrics takes flops, memory, init_std, init_verdict; got 'bogus'\n"
        )


# --------------------------------------------------------------------------------------------
# output formats


@pytest.mark.usefixtures("repo_root")
class TestFormats:
    ARGS = ("sweep", "configs/convnet.yaml", "--param", "hidden_channels", "--values", "4,8")

    def test_json_keys(self):
        data = sweep_json(*self.ARGS[1:])
        assert set(data) == {"name", "spec", "swept", "metrics", "rows", "fits"}
        assert data["name"] == "convnet-1d"
        assert data["spec"] == "configs/convnet.yaml"
        assert data["swept"] == ["hidden_channels"]
        assert data["metrics"] == ["params", "learnable_params", "receptive_field", "output_shape"]
        assert data["rows"] == [
            {
                "hidden_channels": 4,
                "params": 497,
                "learnable_params": 497,
                "receptive_field": [[11, 11]],
                "output_shape": [1, 256],
                "error": None,
                "failed": [],
            },
            {
                "hidden_channels": 8,
                "params": 1857,
                "learnable_params": 1857,
                "receptive_field": [[11, 11]],
                "output_shape": [1, 256],
                "error": None,
                "failed": [],
            },
        ]
        assert all(type(row["params"]) is int for row in data["rows"])
        assert all(type(row["learnable_params"]) is int for row in data["rows"])
        # two points: the slope is exact, log(1857/497)/log(2) = 1.9017...
        slope = round(math.log(1857 / 497) / math.log(2), 4)
        assert data["fits"] == {
            "params": {"exponent": slope, "law": "quadratic", "r2": 1.0},
            "learnable_params": {"exponent": slope, "law": "quadratic", "r2": 1.0},
            "receptive_field": {"exponent": 0.0, "law": "constant", "r2": 1.0},
        }

    def test_json_exponential_fit_has_base(self):
        # an exponential law also carries its base and the log-linear r² (the UNet levels sweep
        # of TestLaws, rendered by the same function as `sweep --format json`)
        data = json.loads(render_sweep_json(unet_levels_sweep()))
        fit = unet_levels_sweep().fits["receptive_field"]
        assert data["fits"]["receptive_field"] == {
            "exponent": round(fit.exponent, 4),
            "law": fit.law,
            "r2": round(fit.r2, 6),
            "base": round(fit.base, 4),
            "r2_exponential": round(fit.r2_exponential, 6),
        }
        assert data["rows"][0] == {
            "num_levels": 1,
            "params": 70,
            "learnable_params": 70,
            "receptive_field": [[10, 10]],
            "error": None,
            "failed": [],
        }

    def test_csv(self):
        result = invoke(*self.ARGS, "--format", "csv")
        assert result.exit_code == 0, result.output
        assert result.stdout == (
            "hidden_channels,params,learnable_params,receptive_field,output_shape,error,failed\n"
            '4,497,497,"(11,11)",1x256,,\n'
            '8,1857,1857,"(11,11)",1x256,,\n'
        )
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert [int(r["params"]) for r in rows] == [497, 1857]

    def test_markdown(self):
        result = invoke(*self.ARGS, "--format", "markdown")
        assert result.exit_code == 0, result.output
        assert result.stdout == (
            "### convnet-1d: sweep over hidden_channels\n"
            "\n"
            "| hidden_channels | params | learnable | receptive field | output shape | error |\n"
            "|---|---|---|---|---|---|\n"
            "| 4 | 497 | 497 | (11,11) | 1×256 |  |\n"
            "| 8 | 1,857 | 1,857 | (11,11) | 1×256 |  |\n"
            "\n"
            "- params: quadratic (exponent 1.90, r² 1.000)\n"
            "- learnable_params: quadratic (exponent 1.90, r² 1.000)\n"
            "- receptive_field: constant (exponent 0.00, r² 1.000)\n"
        )

    def test_table_with_fit_lines_and_no_progress_bar_when_piped(self):
        result = invoke(*self.ARGS)
        assert result.exit_code == 0, result.output
        assert result.stdout == (
            "convnet-1d: sweep over hidden_channels\n"
            "┏━━━━━━━━━━━━━━━━━┳━━━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━┓\n"
            "┃ hidden_channels ┃ params ┃ learnable ┃ receptive field ┃ output shape ┃\n"
            "┡━━━━━━━━━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━┩\n"
            "│               4 │    497 │       497 │ (11,11)         │ 1×256        │\n"
            "│               8 │  1,857 │     1,857 │ (11,11)         │ 1×256        │\n"
            "└─────────────────┴────────┴───────────┴─────────────────┴──────────────┘\n"
            "fitted laws (power law in log-log over the upper half of the range):\n"
            "  params: quadratic (exponent 1.90, r² 1.000)\n"
            "  learnable_params: quadratic (exponent 1.90, r² 1.000)\n"
            "  receptive_field: constant (exponent 0.00, r² 1.000)\n"
        )
        # CliRunner's stderr is not a terminal: no progress bar, no label, nothing at all
        assert result.stderr == ""

    def test_no_progress_bar_in_json_either(self):
        result = invoke(*self.ARGS, "--format", "json")
        assert result.exit_code == 0, result.output
        assert result.stderr == ""
        for bar in ("━", "╸", "╺", "sweeping", "0:00"):
            assert bar not in result.output

    def test_output_file(self, tmp_path):
        target = tmp_path / "sweep.json"
        result = invoke(*self.ARGS, "--format", "json", "--output", str(target))
        assert result.exit_code == 0, result.output
        assert result.stdout == ""
        assert result.stderr == f"wrote {target}\n"
        assert [r["params"] for r in json.loads(target.read_text())["rows"]] == [497, 1857]


class TestCostMetrics:
    def test_flops_and_memory_columns(self, specs):
        result = invoke(
            "sweep",
            "tiny.yaml",
            *("--param", "hidden_channels", "--values", "1,2"),
            *("--metrics", "flops,memory", "--format", "json"),
        )
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["metrics"] == [
            "params",
            "learnable_params",
            "receptive_field",
            "output_shape",
            "flops",
            "memory",
        ]
        rows = data["rows"]
        assert [set(r) for r in rows] == [
            {"hidden_channels", *data["metrics"], "error", "failed"},
        ] * 2
        # two convs over 8 cells, 1 -> h -> 1, kernel 3 (XLA: a multiply-add = 2 FLOPs):
        #   lifting 2*3*h*8 + bias 8h; relu 8h; projection 2*3*h*8 + bias 8  = 112h + 8
        assert [r["flops"] for r in rows] == [120, 232]
        assert [r["params"] for r in rows] == [8, 15]  # lifting 4h, projection 3h+1
        assert all(type(r["memory"]) is int and r["memory"] > 0 for r in rows)
        assert set(data["fits"]) == {
            "params",
            "learnable_params",
            "receptive_field",
            "flops",
            "memory",
        }
        # the same figures as `inspect` (forward FLOPs, training-step peak bytes)
        check = invoke("inspect", "tiny.yaml", "--set", "model.hidden_channels=2", "-f", "json")
        assert check.exit_code == 0, check.output
        report = json.loads(check.stdout)
        assert rows[1]["flops"] == report["flops"]["forward"]
        assert rows[1]["memory"] == report["memory"]["train_step"]["peak_bytes"]

    def test_csv_header_with_cost_metrics(self, specs):
        result = invoke(
            "sweep",
            "tiny.yaml",
            *("-p", "hidden_channels", "--values", "2", "--metrics", "flops", "-f", "csv"),
        )
        assert result.exit_code == 0, result.output
        assert result.stdout == (
            "hidden_channels,params,learnable_params,receptive_field,output_shape,flops,error,"
            "failed\n"
            '2,15,15,"(2,2)",1x8,232,,\n'
        )


# --------------------------------------------------------------------------------------------
# plots


class TestPlot:
    ARGS = ("sweep", "tiny.yaml", "--param", "hidden_channels", "--values", "1,2,4")

    def test_png(self, specs):
        result = invoke(*self.ARGS, "--plot", "out.png", "--format", "json")
        assert result.exit_code == 0, result.output
        assert result.stderr == "wrote out.png\n"
        assert (specs / "out.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert [r["params"] for r in json.loads(result.stdout)["rows"]] == [8, 15, 29]
        assert [p.name for p in specs.iterdir() if p.suffix == ".png"] == ["out.png"]  # no temp

    def test_svg(self, specs):
        result = invoke(*self.ARGS, "--plot", "out.svg", "--format", "json")
        assert result.exit_code == 0, result.output
        root = ET.parse(specs / "out.svg").getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg"

    def test_pdf_refused(self, specs):
        result = invoke(*self.ARGS, "--plot", "out.pdf")
        assert result.exit_code == 2
        assert result.stderr == "error: --plot writes .png or .svg files, got 'out.pdf'\n"
        assert not (specs / "out.pdf").exists()

    def test_two_parameters_are_small_multiples(self, specs):
        """One panel per value of the second parameter, at most three to a row, a block per
        metric (README "Scaling laws"): 4 depths -> rows of 3 + 1 panels for each of the
        2 plotted metrics (params, receptive field; learnable equals params here, so it is
        not drawn again) = 8 panels drawn."""
        result = invoke(
            *self.ARGS, "--param", "depth", "--values", "1,2,3,4", "--plot", "out.svg", "-f", "json"
        )
        assert result.exit_code == 0, result.output
        assert result.stderr == "wrote out.svg\n"
        assert len(json.loads(result.stdout)["rows"]) == 3 * 4
        svg = (specs / "out.svg").read_text()
        assert len(re.findall(r'<g id="axes_\d+">', svg)) == 8  # the 2 x 2 spare cells hidden
        for metric in ("params = learnable", "receptive field"):
            for depth in (1, 2, 3, 4):
                assert f"<!-- {metric} vs hidden_channels, depth={depth} -->" in svg
        assert "<!-- learnable vs" not in svg

    def test_three_parameters_refused_after_the_table(self, specs):
        result = invoke(
            *self.ARGS,
            *("--param", "depth", "--values", "1,2", "--param", "kernel_size", "--values", "3"),
            *("--plot", "out.png", "--format", "json"),
        )
        assert result.exit_code == 2
        assert len(json.loads(result.stdout)["rows"]) == 3 * 2 * 1  # the table, whole
        assert result.stderr == (
            "error: --plot draws sweeps of one or two parameters (two: one panel per value of "
            "the second); this sweep has 3. The table above is complete\n"
        )
        assert not (specs / "out.png").exists()


# --------------------------------------------------------------------------------------------
# performance sanity (not a timing benchmark: benchmarks/ has those)


def test_ten_widths_of_a_2d_convnet(specs):
    (specs / "wide.yaml").write_text(spec_text("ConvNet", 2, [32, 32]), encoding="utf-8")
    widths = [4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]
    start = time.process_time()
    data = sweep_json(
        "wide.yaml", "--param", "hidden_channels", "--values", ",".join(map(str, widths))
    )
    elapsed = time.process_time() - start
    assert [r["params"] for r in data["rows"]] == [convnet_params(h, 10, 3, 2) for h in widths]
    assert [r["output_shape"] for r in data["rows"]] == [[1, 32, 32]] * 10
    assert [r["receptive_field"] for r in data["rows"]] == [[[11, 11], [11, 11]]] * 10
    assert data["fits"]["params"]["law"] == "quadratic"
    # the target is 3 s beyond JAX's import; this only catches a per-row compile or re-import
    # (each would cost seconds per row). CPU time of this process (XLA threads included), so
    # other processes loading the machine do not count
    assert elapsed < 30, f"10 widths took {elapsed:.1f} s"


def test_progress_bar_only_on_a_terminal(monkeypatch):
    """The bar goes to stderr when it is a terminal; CliRunner (like a pipe) gets none."""
    import contextlib

    from rich.progress import Progress

    from archinspect.cli import budgets

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stderr", io.StringIO())
    context, callback = budgets.progress("sweeping hidden_channels", 3)
    assert isinstance(context, contextlib.nullcontext)
    assert callback is None
    monkeypatch.setattr("sys.stderr", Terminal())
    context, callback = budgets.progress("sweeping hidden_channels", 3)
    assert isinstance(context, Progress)
    assert callback is not None
