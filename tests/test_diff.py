"""`archinspect diff A B` (README "Two specs side by side: `archinspect diff`"): every
difference worked out by hand.

ConvNet (configs/convnet.yaml: 1-D, 1 -> 1 channels, kernel 3, depth D, hidden h) has D + 1
convs: layers[0] 1 -> h, layers[1..D-1] h -> h, layers[D] h -> 1; a conv from a to b channels
with kernel k holds b*a*k weights and b biases (tests/test_counts.py). Its receptive field is
one cell each way per 3-conv: (D + 1, D + 1).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from archinspect.cli import app
from archinspect.render import render
from archinspect.report import (
    ArgumentDiff,
    DiffReport,
    DiffSide,
    FigureDiff,
    ModuleDiff,
)

pytestmark = pytest.mark.usefixtures("repo_root")

runner = CliRunner()
CONVNET = "configs/convnet.yaml"


def conv(a: int, b: int, k: int = 3) -> int:
    return b * a * k + b  # weights + biases


def convnet_layers(h: int, depth: int = 10, k: int = 3) -> list[int]:
    return [conv(1, h, k)] + [conv(h, h, k)] * (depth - 1) + [conv(h, 1, k)]


def invoke(*args: str) -> str:
    result = runner.invoke(app, ["diff", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def diff_json(*args: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(invoke(*args, "--format", "json"))
    return data


def figures(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in data["figures"]}


def modules(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["path"]: m for m in data["modules"]}


def doubled_convnet(tmp_path: Path) -> str:
    """configs/convnet.yaml with hidden_channels 16 -> 32, written out (not --set)."""
    text = Path(CONVNET).read_text(encoding="utf-8")
    assert "hidden_channels: 16\n" in text
    path = tmp_path / "convnet_wide.yaml"
    path.write_text(text.replace("hidden_channels: 16\n", "hidden_channels: 32\n"), "utf-8")
    return str(path)


# ---------------------------------------------------------------- one argument changed


def test_doubled_hidden_channels(tmp_path: Path):
    data = diff_json(CONVNET, doubled_convnet(tmp_path))
    assert data["arguments"] == [
        {"name": "model.hidden_channels", "a": 16, "b": 32, "status": "differs"}
    ]
    a, b = convnet_layers(16), convnet_layers(32)
    # 64 + 9 * 784 + 49 = 7,169 and 128 + 9 * 3,104 + 97 = 28,161
    assert (sum(a), sum(b)) == (64 + 9 * 784 + 49, 128 + 9 * 3_104 + 97) == (7_169, 28_161)
    # the hidden convs hold 3h^2 + h: doubling h makes them (12h^2 + 2h) / (3h^2 + h) ~ 4x
    f = figures(data)
    for key in ("params.total", "params.learnable", "params.materialized"):
        assert f[key] == {
            "name": key,
            "a": 7_169,
            "b": 28_161,
            "difference": 28_161 - 7_169,
            "ratio": round(28_161 / 7_169, 6),
            "status": "differs",
        }
    assert f["params.bytes"]["difference"] == 4 * (28_161 - 7_169)  # float32
    same = {"status": "same", "difference": None, "ratio": None}
    assert f["receptive_field.per_axis"] == {
        "name": "receptive_field.per_axis",
        "a": [[11, 11]],  # 11 3-convs: one cell each way per conv
        "b": [[11, 11]],
        **same,
    }
    assert f["receptive_field.global"] == {
        "name": "receptive_field.global",
        "a": False,
        "b": False,
        **same,
    }
    assert f["output_shape"] == {"name": "output_shape", "a": [1, 256], "b": [1, 256], **same}
    assert "flops.forward" not in f and "memory.forward_peak" not in f  # not asked for
    m = modules(data)
    assert list(m) == ["", "layers"] + [f"layers[{i}]" for i in range(11)]
    for i, (pa, pb) in enumerate(zip(a, b, strict=True)):
        row = m[f"layers[{i}]"]
        assert (row["a"], row["b"], row["difference"]) == (pa, pb, pb - pa)
        assert (row["type_a"], row["type_b"], row["depth"], row["status"]) == (
            "Conv",
            "Conv",
            2,
            "differs",
        )
    assert (m["layers[0]"]["a"], m["layers[0]"]["b"]) == (16 * 3 + 16, 32 * 3 + 32)
    assert m["layers[1]"]["difference"] == (32 * 32 * 3 + 32) - (16 * 16 * 3 + 16) == 2_320
    assert m[""]["a"] == m["layers"]["a"] == 7_169


def test_parameter_totals_agree_with_equinox_leaves(tmp_path: Path):
    """Independent oracle: the sizes of the array leaves of the model Equinox builds."""
    import equinox as eqx
    import jax

    from archinspect.build import build_abstract
    from archinspect.spec import load_spec

    data = diff_json(CONVNET, doubled_convnet(tmp_path))
    for side, path in (("a", CONVNET), ("b", doubled_convnet(tmp_path))):
        model = build_abstract(load_spec(path))
        # the abstract build's leaves are ShapeDtypeStructs, one per stored array
        leaves = jax.tree_util.tree_leaves(model)
        assert leaves and all(isinstance(x, jax.ShapeDtypeStruct) for x in leaves)
        assert isinstance(model, eqx.Module)
        assert figures(data)["params.total"][side] == sum(math.prod(x.shape) for x in leaves)


def test_a_module_only_in_one_spec_and_the_order_of_rows():
    """--set-b model.depth=5: B keeps layers[0..5], and its layers[5] is the final conv."""
    data = diff_json(CONVNET, CONVNET, "--set-b", "model.depth=5")
    assert data["b"]["overrides"] == ["model.depth=5"] and data["a"]["overrides"] == []
    assert data["arguments"] == [{"name": "model.depth", "a": 10, "b": 5, "status": "differs"}]
    m = modules(data)
    assert list(m) == ["", "layers"] + [f"layers[{i}]" for i in range(11)]
    assert [m[f"layers[{i}]"]["status"] for i in range(11)] == (
        ["same"] * 5 + ["differs"] + ["only in A"] * 5
    )
    assert (m["layers[5]"]["a"], m["layers[5]"]["b"]) == (conv(16, 16), conv(16, 1))
    only = m["layers[7]"]
    assert (only["a"], only["b"], only["type_b"], only["difference"]) == (784, None, None, None)
    # B: 64 + 4 * 784 + 49; the five hidden convs gone: 5 * 784 fewer
    total = figures(data)["params.total"]
    assert (total["b"], total["difference"]) == (64 + 4 * 784 + 49, -5 * 784)
    assert figures(data)["receptive_field.per_axis"]["b"] == [[6, 6]]  # 6 3-convs


def test_depth_folds_both_trees_alike():
    data = diff_json(CONVNET, CONVNET, "--set-b", "model.depth=5", "--depth", "1")
    assert data["depth"] == 1
    assert [(m["path"], m["a"], m["b"]) for m in data["modules"]] == [
        ("", 7_169, 64 + 4 * 784 + 49),
        ("layers", 7_169, 64 + 4 * 784 + 49),
    ]


# ---------------------------------------------------------------- two families

# ClassicUNet, hidden 4, 4 levels, 2-D, 16x16 (tests/test_inspect_cli.py works it out by level):
UNET_PARAMS = 204 + 12_300 + 74_160 + 24_540 + 37_080 + 5
CONVNET_ARGS = {"depth", "kernel_size", "final_activation", "use_bias", "use_final_bias"}


def test_two_families():
    unet = ["--set-b", "model.hidden_channels=4", "--set-b", "input.resolution=16"]
    data = diff_json(CONVNET, "configs/unet.yaml", *unet)
    args = {a["name"]: (a["a"], a["b"], a["status"]) for a in data["arguments"]}
    assert args == {
        "model.family": ("ConvNet", "ClassicUNet", "differs"),
        "model.hidden_channels": (16, 4, "differs"),
        "model.num_spatial_dims": (1, 2, "differs"),
        **{f"model.{k}": (v, None, "only in A") for k, v in _convnet_defaults().items()},
        "model.num_levels": (None, 4, "only in B"),
        "model.use_norm": (None, True, "only in B"),
        "input.resolution": ([256], [16, 16], "differs"),
        # same on both sides, so not listed: activation relu, boundary_mode periodic,
        # in_channels 1, out_channels 1, channels 1, batch 1, float32
    }
    assert [a["name"] for a in data["arguments"]][-1] == "input.resolution"  # input keys last
    f = figures(data)
    assert (f["params.total"]["a"], f["params.total"]["b"]) == (7_169, UNET_PARAMS)
    assert f["params.total"]["difference"] == 148_289 - 7_169
    assert (f["output_shape"]["a"], f["output_shape"]["b"]) == ([1, 256], [1, 16, 16])
    # GroupNorm couples every cell of the UNet's input; the ConvNet is a stencil
    assert (f["receptive_field.global"]["a"], f["receptive_field.global"]["b"]) == (False, True)
    rows = data["modules"]
    assert rows[0] == {
        "path": "",
        "depth": 0,
        "type_a": "ConvNet",
        "type_b": "ClassicUNet",
        "a": 7_169,
        "b": 148_289,
        "difference": 148_289 - 7_169,
        "ratio": round(148_289 / 7_169, 6),
        "status": "differs",
    }
    # no path in common below the root: A's rows, then B's
    statuses = [r["status"] for r in rows[1:]]
    assert statuses == sorted(statuses) and set(statuses) == {"only in A", "only in B"}
    assert rows[1]["path"] == "layers" and rows[statuses.count("only in A") + 1]["path"] == (
        "lifting"
    )
    assert sum(r["b"] for r in rows if r["depth"] == 1 and r["b"] is not None) == 148_289
    assert sum(r["a"] for r in rows if r["depth"] == 1 and r["a"] is not None) == 7_169


def _convnet_defaults() -> dict[str, Any]:
    # configs/convnet.yaml: depth 10, kernel_size 3; the family's defaults for the rest
    return {
        "depth": 10,
        "kernel_size": 3,
        "final_activation": "identity",
        "use_bias": True,
        "use_final_bias": True,
    }


# ---------------------------------------------------------------- identical specs


def test_identical_specs_and_explicit_defaults(tmp_path: Path):
    """Writing a default out (batch_size 1, float32, relu, biases) changes nothing."""
    text = Path(CONVNET).read_text(encoding="utf-8")
    text = text.replace("  kernel_size: 3\n", "  kernel_size: 3\n  activation: relu\n")
    text = text.replace("  kernel_size: 3\n", "  kernel_size: 3\n  use_bias: true\n")
    text = text.replace("  resolution: 256\n", "  resolution: [256]\n  batch_size: 1\n")
    text = text.replace("  batch_size: 1\n", "  batch_size: 1\n  dtype: float32\n")
    explicit = tmp_path / "explicit.yaml"
    explicit.write_text(text, encoding="utf-8")
    for b in (CONVNET, str(explicit)):
        data = diff_json(CONVNET, b)
        assert data["arguments"] == []
        for f in data["figures"]:
            assert f["status"] == "same", f
            assert f["difference"] in (0, None) and f["ratio"] in (1.0, None), f
        for m in data["modules"]:
            assert (m["status"], m["difference"], m["ratio"]) == ("same", 0, 1.0), m
    table = invoke(CONVNET, str(explicit))
    assert "arguments that differ: none" in table


# ---------------------------------------------------------------- FLOPs and memory

SMALL = [
    "--set",
    "model.depth=2",
    "--set",
    "input.resolution=10",
    "--set",
    "model.hidden_channels=4",
]


def test_flops_and_memory_when_asked():
    data = diff_json(
        CONVNET, CONVNET, *SMALL, "--set-b", "model.hidden_channels=8", "--flops", "--memory"
    )
    f = figures(data)

    # XLA's count on 10 cells (tests/test_inspect_cli.py): 2 * MACs + bias adds per 3-conv,
    # one FLOP per ReLU element after each hidden layer
    def flops(h: int) -> int:
        convs = (2 * h * 1 * 3 + h) * 10 + (2 * h * h * 3 + h) * 10 + (2 * 1 * h * 3 + 1) * 10
        return convs + 2 * h * 10

    assert flops(4) == 1_610
    assert (f["flops.forward"]["a"], f["flops.forward"]["b"]) == (flops(4), flops(8))
    assert f["flops.per_sample"]["difference"] == flops(8) - flops(4)
    # leaf outputs in float32: two hidden layers of h x 10 and the 1 x 10 output
    assert f["memory.activation_bytes"]["a"] == 4 * (40 + 40 + 10)
    assert f["memory.activation_bytes"]["b"] == 4 * (80 + 80 + 10)
    for key in ("memory.forward_peak", "memory.train_step_peak"):
        assert f[key]["a"] > 0 and f[key]["b"] > f[key]["a"], f[key]


# ---------------------------------------------------------------- bad specs

BAD = "tests/specs/bad/bool_for_int"


def _bad_message() -> str:
    return Path(f"{BAD}.err").read_text(encoding="utf-8")


@pytest.mark.parametrize("position", ["A", "B"])
def test_a_bad_spec_in_either_position_is_exit_2_with_its_located_message(position: str):
    args = [f"{BAD}.yaml", CONVNET] if position == "A" else [CONVNET, f"{BAD}.yaml"]
    result = runner.invoke(app, ["diff", *args])
    assert result.exit_code == 2
    assert result.stderr == _bad_message()
    assert re.search(rf"^{re.escape(BAD)}\.yaml:\d+:\d+: ", result.stderr, re.MULTILINE)
    assert result.stdout == ""


def test_two_bad_specs_report_both():
    other = "tests/specs/bad/boundary_mode_typo"
    result = runner.invoke(app, ["diff", f"{BAD}.yaml", f"{other}.yaml"])
    assert result.exit_code == 2
    expected = _bad_message() + Path(f"{other}.err").read_text(encoding="utf-8")
    assert result.stderr == expected


def test_a_bad_override_names_its_key():
    result = runner.invoke(app, ["diff", CONVNET, CONVNET, "--set-b", "model.depth=-1"])
    assert result.exit_code == 2
    assert "model.depth" in result.stderr and "-1" in result.stderr
    assert "Traceback" not in result.output


# ---------------------------------------------------------------- every format

INF = math.inf


def hand_report() -> DiffReport:
    """Built by hand, no model: an infinite extent, a measure one side lacks, an argument and
    modules only in one spec, a module whose type changed."""
    return DiffReport(
        a=DiffSide("alpha", "a.yaml", "Net", None),
        b=DiffSide("beta", "b.yaml", "Other", "pkg.mod:Other", ("model.width=8",)),
        arguments=(
            ArgumentDiff("model.family", "Net", "Other"),
            ArgumentDiff("model.channel_multipliers", [1, 2], [1, 2, 4]),
            ArgumentDiff("model.use_norm", True, None, in_b=False),
            ArgumentDiff("model.width", None, 8, in_a=False),
        ),
        figures=(
            FigureDiff("params.total", 3_210, 12_345),
            FigureDiff("params.materialized", 3_100, None),
            FigureDiff("output_shape", (2, 32, 32), (2, 32, 32)),
            FigureDiff("receptive_field.per_axis", ((INF, INF), (9, 4)), ((7, 5), (9, 4))),
            FigureDiff("receptive_field.global", True, False),
            FigureDiff("flops.per_sample", 91_000, 182_000),
        ),
        modules=(
            ModuleDiff("", 0, "Net", "Other", 3_210, 12_345),
            ModuleDiff("lift", 1, "Conv", "ConvTranspose", 1_210, 1_210),
            ModuleDiff("blocks", 1, "list", None, 2_000, None),
            ModuleDiff("head", 1, None, "Linear", None, 11_135),
        ),
        depth=1,
        notes=("B: a note on the count",),
    )


def _texts() -> dict[str, str]:
    return {f: render(f, hand_report(), width=1000) for f in ("table", "markdown", "csv", "json")}


def _shown(key: str, value: Any) -> list[str]:
    """The texts a JSON value of a diff may be shown as in the table and Markdown."""
    if value is None:
        return ["—", "not measured", ""]
    if isinstance(value, bool):
        return ["yes" if value else "no", "true" if value else "false"]
    if isinstance(value, int):
        return [f"{value:+,}" if key == "difference" and value else f"{value:,}"]
    if isinstance(value, float):
        return [f"{value:,.3f}"]
    if isinstance(value, str):
        return [value]
    if value and isinstance(value[0], list):  # extents per axis
        return [" ".join(f"({b},{f})" for b, f in value)]
    return ["×".join(map(str, value)), json.dumps(value)]


def _json_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    return data["arguments"] + data["figures"] + data["modules"]


def _md_rows(text: str) -> list[str]:
    """Rows of every Markdown table, below each header and alignment row."""
    lines = text.splitlines()
    return [
        line
        for i, line in enumerate(lines)
        if line.startswith("|")
        and not line.startswith("|---")
        and not (i + 1 < len(lines) and lines[i + 1].startswith("|---"))
    ]


def test_every_format_parses_and_shows_every_field():
    texts = _texts()
    data = json.loads(texts["json"])
    assert data["a"] == {
        "name": "alpha",
        "spec": "a.yaml",
        "overrides": [],
        "family": "Net",
        "target": None,
    }
    assert data["b"]["overrides"] == ["model.width=8"]
    rows = _json_rows(data)
    table = [line for line in texts["table"].splitlines() if line.startswith("│")]
    shown = {"table": table, "markdown": _md_rows(texts["markdown"])}
    missing = []
    for fmt, lines in shown.items():
        assert len(lines) == len(rows), (fmt, lines)
        for row, line in zip(rows, lines, strict=True):
            cells = [c.strip().replace("&nbsp;", "") for c in re.split(r"[│|]", line)[1:-1]]
            for key, value in row.items():
                if key == "depth":
                    continue  # shown as the indentation of the module's path
                if key == "path" and value == "":
                    value = "(total)"
                if key == "name" and value in FIGURE_LABELS:
                    value = FIGURE_LABELS[value]
                if key in ("type_a", "type_b") and value is not None:
                    if not any(value in c.split(" → ") for c in cells):
                        missing.append(f"{fmt}: {key}={value!r} not in {cells}")
                    continue
                if key in ("type_a", "type_b"):
                    continue
                if not any(form in cells for form in _shown(key, value)):
                    missing.append(f"{fmt}: {key}={value!r} not in {cells}")
    assert not missing, "\n".join(missing)
    for fmt in ("table", "markdown"):
        for text in ("alpha (a.yaml), Net", "beta (b.yaml with model.width=8), pkg.mod:Other"):
            assert text in texts[fmt], fmt
        assert "a note on the count" in texts[fmt]


FIGURE_LABELS = {
    "params.total": "total parameters",
    "params.materialized": "materialized",
    "output_shape": "output shape",
    "receptive_field.per_axis": "receptive field (backward, forward)",
    "receptive_field.global": "global coupling",
    "flops.per_sample": "FLOPs, per sample",
}


def test_csv_has_every_row_of_every_section():
    texts = _texts()
    data = json.loads(texts["json"])
    records = list(csv.DictReader(io.StringIO(texts["csv"])))
    assert list(records[0]) == [
        "section",
        "name",
        "type",
        "depth",
        "a",
        "b",
        "difference",
        "ratio",
        "status",
    ]
    sections = ["argument"] * 4 + ["figure"] * 6 + ["module"] * 4
    assert [r["section"] for r in records] == sections
    for row, rec in zip(_json_rows(data), records, strict=True):
        assert rec["name"] == row.get("name", row.get("path"))
        assert rec["status"] == row["status"]
        assert rec["depth"] == str(row.get("depth", ""))
        for key in ("difference", "ratio"):
            assert rec[key] == ("" if row.get(key) is None else str(row[key]))
    by_name = {r["name"]: r for r in records}
    assert (by_name["params.total"]["a"], by_name["params.total"]["b"]) == ("3210", "12345")
    assert by_name["params.materialized"]["b"] == "not measured"
    assert by_name["output_shape"]["a"] == "2x32x32"
    assert json.loads(by_name["receptive_field.per_axis"]["a"]) == [["inf", "inf"], [9, 4]]
    assert (by_name["receptive_field.global"]["a"], by_name["receptive_field.global"]["b"]) == (
        "yes",
        "no",
    )
    assert by_name["model.channel_multipliers"]["b"] == "[1, 2, 4]"
    assert (by_name["model.width"]["a"], by_name["model.width"]["status"]) == ("—", "only in B")
    assert by_name["lift"]["type"] == "Conv → ConvTranspose"
    assert (by_name["head"]["a"], by_name["head"]["status"]) == ("", "only in B")


def test_json_of_the_hand_report():
    data = json.loads(_texts()["json"])
    f = {r["name"]: r for r in data["figures"]}
    assert f["receptive_field.per_axis"]["a"] == [["inf", "inf"], [9, 4]]
    assert f["params.materialized"] == {
        "name": "params.materialized",
        "a": 3_100,
        "b": None,
        "difference": None,
        "ratio": None,
        "status": "differs",
    }
    assert f["flops.per_sample"]["ratio"] == 2.0
    assert data["arguments"][2] == {
        "name": "model.use_norm",
        "a": True,
        "b": None,
        "status": "only in A",
    }
    assert data["modules"][1]["status"] == "differs"  # same count, another type


def test_the_python_report_shows_itself():
    report = hand_report()
    assert report.to_dict()["depth"] == 1
    assert "<table" in report._repr_html_() and "ConvTranspose" in report._repr_html_()


def test_abstract_unless_flops_or_memory_are_asked_for(monkeypatch: pytest.MonkeyPatch):
    """Without --flops or --memory nothing is lowered or compiled (README "Two specs side by
    side: `archinspect diff`")."""
    from archinspect.commands import inspect as inspect_command
    from archinspect.commands.diff import diff_report
    from archinspect.spec import load_spec

    def refused(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a program was built for XLA")

    monkeypatch.setattr(inspect_command, "forward_program", refused)
    monkeypatch.setattr(inspect_command, "train_step_program", refused)
    spec = load_spec(CONVNET, ["model.depth=2", "input.resolution=10"])
    report = diff_report(spec, spec)
    assert [f.key for f in report.figures][:2] == ["params.total", "params.learnable"]
    with pytest.raises(AssertionError, match="a program was built for XLA"):
        diff_report(spec, spec, flops=True)


def test_python_api_on_two_live_models():
    import equinox as eqx
    import jax

    import archinspect

    def sequential(width: int, kernel: int) -> eqx.nn.Sequential:
        key = jax.random.PRNGKey(0)
        first = eqx.nn.Conv1d(3, width, kernel, padding=kernel // 2, key=key)
        last = eqx.nn.Conv1d(width, 2, 3, padding=1, key=key)
        return eqx.nn.Sequential([first, eqx.nn.Lambda(jax.nn.relu), last])

    # abstract (nothing allocated, nothing compiled for the random init)
    a = eqx.filter_eval_shape(sequential, 8, 3)
    b = eqx.filter_eval_shape(sequential, 16, 5)
    report = archinspect.diff(a, b, (3, 32), (3, 40))
    data = report.to_dict()
    assert data["a"]["spec"] is None and data["b"]["name"] == "B"
    # 8*3*3 + 8 = 80 and 2*8*3 + 2 = 50; 16*3*5 + 16 = 256 and 2*16*3 + 2 = 98
    m = modules(data)
    assert [(p, m[p]["a"], m[p]["b"]) for p in ("layers[0]", "layers[2]")] == [
        ("layers[0]", 80, 256),
        ("layers[2]", 50, 98),
    ]
    f = figures(data)
    for side, model in (("a", a), ("b", b)):  # oracle: the shapes of Equinox's array leaves
        leaves = jax.tree_util.tree_leaves(model)
        arrays = [x for x in leaves if isinstance(x, jax.ShapeDtypeStruct)]
        assert len(arrays) == 4  # two weights, two biases (the other leaf: the ReLU)
        assert f["params.total"][side] == sum(math.prod(x.shape) for x in arrays)
    assert (f["params.total"]["a"], f["params.total"]["b"]) == (80 + 50, 256 + 98)
    # two 3-convs reach one cell each way each; a 5-conv and a 3-conv, 2 + 1
    assert f["receptive_field.per_axis"]["a"] == [[2, 2]]
    assert f["receptive_field.per_axis"]["b"] == [[3, 3]]
    assert (f["output_shape"]["a"], f["output_shape"]["b"]) == ([2, 32], [2, 40])
    assert data["arguments"] == [
        {"name": "input.resolution", "a": [32], "b": [40], "status": "differs"}
    ]
    with pytest.raises(archinspect.ArgumentError, match=r"`batch_size` \(=0\) must be a positive"):
        archinspect.diff(a, b, (3, 32), batch_size=0)


def test_receptive_fields_agree_with_the_perturbation_oracle():
    """Independent oracle (tests/rf_oracle.py): perturb one input cell at a time of the
    concrete ConvNets and see which outputs change."""
    import jax
    import numpy as np

    from archinspect.build import build_abstract
    from archinspect.spec import load_spec
    from tests.rf_oracle import oracle

    rng = np.random.default_rng(0)

    def concrete(x: Any) -> Any:  # random weights, drawn by numpy: no initialiser compiled
        is_array = isinstance(x, jax.ShapeDtypeStruct)
        return rng.normal(size=x.shape).astype(x.dtype) if is_array else x

    small = ["input.resolution=32", "model.hidden_channels=2", "model.depth=4"]
    args = [arg for item in small for arg in ("--set", item)]
    data = diff_json(CONVNET, CONVNET, *args, "--set-b", "model.depth=2")
    rf = figures(data)["receptive_field.per_axis"]
    assert (rf["a"], rf["b"]) == ([[5, 5]], [[3, 3]])  # D + 1 3-convs: one cell each way
    for side, depth in (("a", 4), ("b", 2)):
        abstract = build_abstract(load_spec(CONVNET, [*small, f"model.depth={depth}"]))
        model = jax.tree_util.tree_map(concrete, abstract)
        per_axis, _ = oracle(model, (1, 32), infinite=False)
        assert [list(p) for p in per_axis] == rf[side]
