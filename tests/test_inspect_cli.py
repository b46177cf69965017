"""`archinspect shapes` and `archinspect inspect` through Typer's CliRunner, every format.

Models are kept tiny because `inspect` compiles (a forward pass and a training step, never
run): a 1-D ConvNet (configs/convnet.yaml, depth 2, hidden 4, 10 cells) and the 2-D
ClassicUNet of configs/unet.yaml with hidden 4 at 16x16. Golden files pin the rendered
`shapes` table and markdown; `--platform cpu` keeps their title the same on any machine.
"""

from __future__ import annotations

import csv
import io
import json

import jax
import pytest
from typer.testing import CliRunner

from archinspect.cli import app

pytestmark = pytest.mark.usefixtures("repo_root")

runner = CliRunner()

UNET = ["configs/unet.yaml", "--set", "model.hidden_channels=4", "--set", "input.resolution=16"]
CONVNET = [
    "configs/convnet.yaml",
    "--set",
    "model.depth=2",
    "--set",
    "model.hidden_channels=4",
    "--set",
    "input.resolution=10",
]
# ClassicUNet, hidden 4, 4 levels, 2-D: the 148,289 parameters of `shapes` below, by level:
#   conv(ci, co) = 9 ci co + co ; block(ci, co) = conv(ci, co) + conv(co, co) + 4 co
#   lifting block(1, 4) = 204; down convs 4, 8, 16, 32: 148 + 584 + 2320 + 9248 = 12,300
#   left blocks (4,8) (8,16) (16,32) (32,64): 912 + 3552 + 14016 + 55680 = 74,160
#   up convs (8,4) (16,8) (32,16) (64,32): 292 + 1160 + 4624 + 18464 = 24,540
#   right blocks (8,4) (16,8) (32,16) (64,32): 456 + 1776 + 7008 + 27840 = 37,080
#   projection 4 + 1 = 5
UNET_PARAMS = 204 + 12_300 + 74_160 + 24_540 + 37_080 + 5
# `inspect` compiles; with 2 levels the UNet compiles in about half the time of 4 levels:
#   lifting 204; level 0: down 148, left 912, up 292, right 456;
#   level 1: down 584, left 3,552, up 1,160, right 1,776; projection 5
UNET_INSPECT = [*UNET, "--set", "model.num_levels=2"]
UNET_INSPECT_PARAMS = 204 + (148 + 912 + 292 + 456) + (584 + 3_552 + 1_160 + 1_776) + 5
CONVNET_PARAMS = 16 + 52 + 13


def invoke(*args: str):
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_unet_hand_count():
    assert UNET_PARAMS == 148_289
    assert UNET_INSPECT_PARAMS == 9_089


# ---------------------------------------------------------------------------------------------
# shapes
# ---------------------------------------------------------------------------------------------


class TestShapes:
    def test_table_golden(self, golden):
        out = invoke("--platform", "cpu", "shapes", *UNET)
        assert out.splitlines()[0].startswith(
            "unet-2d · ClassicUNet · 2-D · input 1×16×16 → output 1×16×16 · batch 1"
        )
        assert "148,289" in out
        golden("shapes_unet_small.table.txt", out)

    def test_markdown_golden(self, golden):
        out = invoke("--platform", "cpu", "shapes", *UNET, "--format", "markdown", "--depth", "1")
        assert "| parameters | 148,289 |" in out
        assert "| &nbsp;&nbsp;lifting (+4) | ClassicDoubleConvBlock | 1×16×16 | 4×16×16 |" in out
        golden("shapes_unet_small_depth1.md", out)

    def test_json(self):
        data = json.loads(invoke("shapes", *UNET, "--format", "json"))
        assert data["input_shape"] == [1, 16, 16]
        assert data["output_shape"] == [1, 16, 16]
        layers = data["layers"]
        for row in layers:
            assert {"path", "type", "input_shape", "output_shape", "params"} <= set(row)
        top = [(r["path"], r["input_shape"], r["output_shape"]) for r in layers if r["depth"] == 1]
        assert top[:3] == [
            ("lifting", [1, 16, 16], [4, 16, 16]),
            ("down_sampling_blocks[0]", [4, 16, 16], [4, 8, 8]),
            ("left_arc_blocks[0][0]", [4, 8, 8], [8, 8, 8]),
        ]
        assert top[8:11] == [
            ("left_arc_blocks[3][0]", [32, 1, 1], [64, 1, 1]),  # 16 / 2**4 = 1 cell
            ("up_sampling_blocks[3]", [64, 1, 1], [32, 2, 2]),
            ("right_arc_blocks[3][0]", [64, 2, 2], [32, 2, 2]),  # 32 up + 32 skip
        ]
        assert layers[0]["params"] == UNET_PARAMS
        assert "flops" not in data and "memory" not in data  # shapes compiles nothing

    def test_csv(self):
        rows = list(csv.DictReader(io.StringIO(invoke("shapes", *UNET, "--format", "csv"))))
        assert list(rows[0]) == [
            "path",
            "type",
            "depth",
            "input_shape",
            "output_shape",
            "kernel",
            "stride",
            "padding",
            "own_params",
            "params",
            "calls",
            "flops",
            "analytic_flops",
            "flops_note",
            "receptive_field",
            "folded",
        ]
        assert len(rows) == 55
        by_path = {r["path"]: r for r in rows}
        row = by_path["up_sampling_blocks[0]"]
        assert (row["type"], row["input_shape"], row["output_shape"]) == (
            "UpConv",
            "8x8x8",
            "4x16x16",
        )
        assert row["params"] == row["own_params"] == str(4 * 8 * 9 + 4)
        # the direct conv it runs: 8x8 dilated by 2 to 15x15, padded (1,2) periodic, 3x3
        assert (row["kernel"], row["stride"], row["padding"]) == (
            "3x3",
            "1/2x1/2",
            "(1,2) (1,2) circular",
        )
        assert all(r["flops"] == "" for r in rows)  # shapes: no FLOPs

    def test_output_file(self, tmp_path):
        target = tmp_path / "shapes.json"
        result = runner.invoke(app, ["shapes", *CONVNET, "-f", "json", "-o", str(target)])
        assert result.exit_code == 0, result.output
        assert result.stdout == ""
        assert json.loads(target.read_text())["output_shape"] == [1, 10]


# ---------------------------------------------------------------------------------------------
# inspect
# ---------------------------------------------------------------------------------------------

SPEC_9_TOP = {"name", "spec", "family", "input_shape", "output_shape", "params", "flops"}
SPEC_9_TOP |= {"memory", "layers"}


@pytest.fixture(scope="module")
def unet_json():
    """The one UNet inspect of this file (compiling a UNet is the slow part)."""
    args = ["--platform", "cpu", "inspect", *UNET_INSPECT, "--format", "json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


class TestInspectJsonUNet:
    def test_spec_9_keys(self, unet_json):
        data = unet_json
        assert SPEC_9_TOP <= set(data)
        assert (data["name"], data["spec"], data["family"]) == (
            "unet-2d",
            "configs/unet.yaml",
            "ClassicUNet",
        )
        assert {"total", "learnable", "materialized", "bytes", "by_dtype"} <= set(data["params"])
        assert {"forward", "method"} <= set(data["flops"])
        assert {"param_bytes", "activation_bytes"} <= set(data["memory"])
        for row in data["layers"]:
            assert {"path", "type", "input_shape", "output_shape", "params"} <= set(row)
        assert data["platform"] == "cpu"

    def test_values(self, unet_json):
        data = unet_json
        assert data["input_shape"] == [1, 16, 16] and data["output_shape"] == [1, 16, 16]
        assert data["params"]["total"] == UNET_INSPECT_PARAMS
        assert data["params"]["bytes"] == 4 * UNET_INSPECT_PARAMS == 36_356
        assert data["params"]["by_dtype"] == {"float32": UNET_INSPECT_PARAMS}
        assert data["flops"]["method"] == "xla"
        assert data["flops"]["forward"] == data["flops"]["per_sample"] > 0  # batch 1
        assert "multiply-add = 2 FLOPs" in data["flops"]["note"]
        # the root row is the unoptimised program, the kind of every layer row: never below one
        assert data["layers"][0]["flops"] == data["flops"]["unoptimised_per_sample"]
        assert all(r["flops"] <= data["layers"][0]["flops"] for r in data["layers"])
        assert data["layers"][0]["analytic_flops"] == data["flops"]["analytic"] > 0
        assert data["flops"]["analytic_per_sample"] == data["flops"]["analytic"]  # batch 1
        top = [(r["path"], r["output_shape"]) for r in data["layers"] if r["depth"] == 1]
        assert top == [
            ("lifting", [4, 16, 16]),
            ("down_sampling_blocks[0]", [4, 8, 8]),
            ("left_arc_blocks[0][0]", [8, 8, 8]),
            ("down_sampling_blocks[1]", [8, 4, 4]),
            ("left_arc_blocks[1][0]", [16, 4, 4]),
            ("up_sampling_blocks[1]", [8, 8, 8]),
            ("right_arc_blocks[1][0]", [8, 8, 8]),
            ("up_sampling_blocks[0]", [4, 16, 16]),
            ("right_arc_blocks[0][0]", [4, 16, 16]),
            ("projection", [1, 16, 16]),
        ]

    def test_memory(self, unet_json):
        m = unet_json["memory"]
        assert m["param_bytes"] == 36_356
        assert m["param_bytes_by_dtype"] == {"float32": 36_356}
        # leaf outputs (convs and norms), floats: lifting 4 x 1024; level 0: down 256, left
        # 4 x 512; level 1: down 128, left 4 x 256, up 512, right 4 x 512; level 0: up 1024,
        # right 4 x 1024; projection 256
        floats = 4096 + (256 + 2048) + (128 + 1024) + (512 + 2048) + (1024 + 4096) + 256
        assert m["activation_bytes"] == 4 * floats == 61_952
        fwd, step = m["forward"], m["train_step"]
        assert fwd["argument_bytes"] == 36_356 + 16 * 16 * 4
        assert fwd["output_bytes"] == 16 * 16 * 4
        assert fwd["peak_bytes"] == fwd["argument_bytes"] + fwd["output_bytes"] + fwd["temp_bytes"]
        assert step["argument_bytes"] == 36_356 + 2 * 16 * 16 * 4
        # loss + gradients + the output tuple's 8-byte pointers (50 parameter arrays: 5 blocks
        # of 8, 2 down and 2 up convs of 2, the projection's 2)
        assert step["output_bytes"] == 4 + 36_356 + 8 * (1 + 50)

    def test_per_layer_flops(self, unet_json):
        layers = unet_json["layers"]
        assert all(isinstance(r.get("flops"), int) and r["flops"] > 0 for r in layers)
        # up_sampling_blocks[0]: zero-insertion to 16x16, then a 3x3 conv 8 -> 4 on 16x16 cells:
        # 2 * (4 * 8 * 9 * 256) + 4 * 256 bias adds
        up0 = next(r for r in layers if r["path"] == "up_sampling_blocks[0]")
        assert up0["flops"] == 2 * 4 * 8 * 9 * 256 + 4 * 256 == 148_480
        # down_sampling_blocks[0]: stride 2, 4 -> 4 channels, 8x8 outputs
        down0 = next(r for r in layers if r["path"] == "down_sampling_blocks[0]")
        assert down0["flops"] == 2 * 4 * 4 * 9 * 64 + 4 * 64 == 18_688
        # leaves vs the compiled total: see tests/test_flops.py for the gap (work outside the
        # modules, ReLUs here, and XLA's fusion); within 10% for this UNet (about 2%)
        paths = [r["path"] for r in layers]
        leaves = [r for r in layers if not any(p.startswith(r["path"] + ".") for p in paths if p)]
        leaf_sum = sum(r["flops"] for r in leaves if r["path"])
        assert leaf_sum <= unet_json["flops"]["forward"] <= 1.1 * leaf_sum


class TestInspectConvNet:
    """Every format, on a model that compiles in well under a second."""

    def test_json(self):
        data = json.loads(invoke("inspect", *CONVNET, "--format", "json"))
        assert SPEC_9_TOP <= set(data)
        assert data["params"]["total"] == CONVNET_PARAMS
        # 3-tap convs on 10 cells: 2 * MACs + bias adds, plus two ReLUs of 4 x 10
        convs = [2 * 4 * 1 * 3 * 10 + 40, 2 * 4 * 4 * 3 * 10 + 40, 2 * 1 * 4 * 3 * 10 + 10]
        assert [r["flops"] for r in data["layers"][1:]] == convs
        assert sum(convs) == 280 + 1_000 + 250 == 1_530
        assert [r["analytic_flops"] for r in data["layers"][1:]] == convs
        assert data["flops"] == {
            "forward": sum(convs) + 2 * 40,
            "per_sample": sum(convs) + 2 * 40,
            "batch_size": 1,
            "method": "xla",
            "note": "XLA's estimate (cost analysis of the compiled program); "
            "a multiply-add = 2 FLOPs",
            # the unoptimised program of one sample: the same figure at this size
            "unoptimised_per_sample": sum(convs) + 2 * 40,
            # periodic padding: XLA and the convention agree on the convs; no ReLU counted
            "analytic": sum(convs),
            "analytic_per_sample": sum(convs),
            "analytic_note": "analytic: 2 x multiply-adds of convolutions and dense products, "
            "padding taps included, plus bias adds (the torchinfo/fvcore convention)",
        }
        assert data["memory"]["param_bytes"] == 4 * CONVNET_PARAMS
        assert data["memory"]["activation_bytes"] == 4 * (40 + 40 + 10)

    def test_batch_size_from_the_command_line(self):
        one = json.loads(invoke("inspect", *CONVNET, "-f", "json"))
        four = json.loads(invoke("inspect", *CONVNET, "--set", "input.batch_size=4", "-f", "json"))
        assert four["batch_size"] == 4
        assert four["flops"]["forward"] == 4 * one["flops"]["forward"]
        assert four["flops"]["per_sample"] == one["flops"]["forward"]
        assert four["input_shape"] == one["input_shape"] == [1, 10]  # per sample
        assert four["memory"]["activation_bytes"] == 4 * one["memory"]["activation_bytes"]

    def test_table(self):
        out = invoke("inspect", *CONVNET)
        header = next(line for line in out.splitlines() if " module " in line)
        # FLOPs (XLA), FLOPs (analytic), then the cumulative receptive field, the last column
        assert header.split()[-8:] == ["FLOPs", "(XLA)", "┃", "FLOPs", "(analytic)", "┃", "RF", "┃"]
        assert "parameters" in out and "81" in out
        text = " ".join(out.split())
        assert "FLOPs, forward 1,610 XLA's estimate" in text
        assert "a multiply-add = 2 FLOPs" in text
        assert "activations 360 bytes" in text
        assert "XLA memory, forward" in text and "XLA memory, train step" in text
        line = next(line for line in out.splitlines() if " layers[1] " in line)
        cells = [c.strip() for c in line.strip("│ \n").split("│")]
        # two 3-convs deep: (2, 2) cells each side
        conv = ["3", "1", "(1,1) circular"]  # 3 taps, stride 1, one periodic cell each side
        # 1,000 both ways: periodic padding reads real cells, so XLA skips no tap
        flops = ["1,000", "1,000"]
        assert cells == ["layers[1]", "Conv", "4×10", "4×10", *conv, "52", "1", *flops, "(2,2)"]

    def test_csv(self):
        rows = list(csv.DictReader(io.StringIO(invoke("inspect", *CONVNET, "-f", "csv"))))
        assert [(r["path"], r["input_shape"], r["output_shape"], r["flops"]) for r in rows] == [
            ("", "1x10", "1x10", "1610"),
            ("layers[0]", "1x10", "4x10", "280"),
            ("layers[1]", "4x10", "4x10", "1000"),
            ("layers[2]", "4x10", "1x10", "250"),
        ]
        # the analytic count has no ReLU in the total; no row needed a note
        assert [r["analytic_flops"] for r in rows] == ["1530", "280", "1000", "250"]
        assert all(r["flops_note"] == "" for r in rows)

    def test_markdown(self):
        out = invoke("inspect", *CONVNET, "-f", "markdown")
        lines = out.splitlines()
        assert lines[0] == (
            "### convnet-1d — ConvNet, input 1×10 → output 1×10, batch 1, float32, "
            + _default_platform()
        )
        assert (
            "| FLOPs, forward (XLA's estimate (cost analysis of the compiled program); "
            "a multiply-add = 2 FLOPs) | 1,610 |"
        ) in lines
        assert "| activation bytes (leaf outputs, whole batch) | 360 |" in lines
        header = "| module | type | input | output | kernel | stride | padding | params | calls |"
        assert header + " FLOPs (XLA) | FLOPs (analytic) | RF |" in lines
        row = "| &nbsp;&nbsp;layers[1] | Conv | 4×10 | 4×10 | 3 | 1 | (1,1) circular | 52 | 1 |"
        assert row + " 1,000 | 1,000 | (2,2) |" in lines
        assert "| FLOPs, analytic (analytic: 2 x multiply-adds of convolutions and dense " in out
        assert "| receptive field (backward, forward) | (3,3) |" in lines


def test_convnet_hand_flops():
    # the figures used above: 2 * MACs + bias adds per conv; ReLU 1 FLOP per element
    assert 2 * 4 * 1 * 3 * 10 + 40 == 280
    assert 2 * 4 * 4 * 3 * 10 + 40 == 1_000
    assert 2 * 1 * 4 * 3 * 10 + 10 == 250
    assert 280 + 1_000 + 250 + 2 * 40 == 1_610


# ---------------------------------------------------------------------------------------------
# --platform
# ---------------------------------------------------------------------------------------------


def _present(name: str) -> bool:
    try:
        return bool(jax.devices(name))
    except RuntimeError:
        return False


def _default_platform() -> str:
    backend = jax.default_backend()
    return "gpu" if backend in ("cuda", "rocm") else backend


AVAILABLE = ", ".join(p for p in ("cpu", "gpu", "tpu") if _present(p))


@pytest.mark.parametrize("platform", ["gpu", "tpu"])
@pytest.mark.parametrize("command", ["inspect", "shapes"])
def test_missing_platform_is_exit_2_listing_the_available_ones(platform, command):
    if _present(platform):
        pytest.skip(f"this machine has a {platform}")
    result = runner.invoke(app, ["--platform", platform, command, *CONVNET])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"error: --platform {platform}: no {platform} backend is available on this machine "
        f"(available: {AVAILABLE})\n"
    )


def test_cpu_only_machine_lists_cpu():
    if _present("gpu") or _present("tpu"):
        pytest.skip("this machine has an accelerator")
    assert AVAILABLE == "cpu"
    result = runner.invoke(app, ["--platform", "gpu", "inspect", *CONVNET])
    assert result.exit_code == 2
    assert result.stderr.endswith("(available: cpu)\n")


def test_unknown_platform_is_exit_2():
    result = runner.invoke(app, ["--platform", "foo", "inspect", *CONVNET])
    assert result.exit_code == 2
    assert result.stderr == "error: --platform must be one of cpu, gpu, tpu, got 'foo'\n"


def test_cpu_platform_works_and_is_reported():
    data = json.loads(invoke("--platform", "cpu", "inspect", *CONVNET, "-f", "json"))
    assert data["platform"] == "cpu"
    assert data["flops"]["forward"] == 1_610
    shapes = json.loads(invoke("--platform", "cpu", "shapes", *CONVNET, "-f", "json"))
    assert shapes["platform"] == "cpu"
    assert [r["output_shape"] for r in shapes["layers"]] == [
        r["output_shape"] for r in data["layers"]
    ]


@pytest.mark.skipif(not _present("gpu"), reason="needs a GPU")
def test_gpu_gives_the_same_shapes_and_counts():
    cpu = json.loads(invoke("--platform", "cpu", "inspect", *CONVNET, "-f", "json"))
    gpu = json.loads(invoke("--platform", "gpu", "inspect", *CONVNET, "-f", "json"))
    assert gpu["platform"] == "gpu"
    assert gpu["params"] == cpu["params"]
    keys = ("path", "input_shape", "output_shape", "params", "calls")
    assert [[r[k] for k in keys] for r in gpu["layers"]] == [
        [r[k] for k in keys] for r in cpu["layers"]
    ]
    assert gpu["memory"]["param_bytes"] == cpu["memory"]["param_bytes"]
    assert gpu["memory"]["activation_bytes"] == cpu["memory"]["activation_bytes"]


def test_one_analysis_gives_the_network_and_layer_fields():
    """Reports that show both use one structural analysis; it equals the two separate calls."""
    from archinspect.analysis.receptive_field import (
        layer_receptive_fields,
        receptive_field,
        receptive_fields,
    )
    from archinspect.build import build_abstract
    from archinspect.spec import load_spec
    from tests.conftest import ROOT

    spec = load_spec(
        ROOT / "configs" / "unet.yaml", ["model.hidden_channels=4", "model.num_levels=2"]
    )
    model = build_abstract(spec)
    network, layers = receptive_fields(model, spec.input_shape)
    assert network == receptive_field(model, spec.input_shape)
    assert layers == layer_receptive_fields(model, spec.input_shape)
    # a ClassicUNet with L levels reaches 2**(L+3) - 6 cells each way (derived by interval
    # arithmetic over every skip path in tests/test_sweep.py): 26 for L = 2, on both axes
    assert network.per_axis == ((2**5 - 6, 2**5 - 6),) * 2
