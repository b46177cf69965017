"""`-` as SPEC reads the spec from standard input, `-o -` writes the report to standard output,
and every command that takes several specs expands quoted globs alike (README "The spec
file")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archinspect.cli import app
from tests.conftest import ROOT

runner = CliRunner()

CONVNET = (ROOT / "configs" / "convnet.yaml").read_text(encoding="utf-8")
# a ConvNet whose hidden_channels is a boolean: line 6, column 20 (after "  hidden_channels: ")
BAD = (
    "model:\n  family: ConvNet\n  num_spatial_dims: 1\n  in_channels: 1\n  out_channels: 1\n"
    "  hidden_channels: true\n"
)
BAD_COLUMN = len("  hidden_channels: ") + 1


def test_bad_spec_text_is_where_the_message_says() -> None:
    assert BAD.splitlines()[5][BAD_COLUMN - 1 :] == "true"
    assert BAD_COLUMN == 20


def test_validate_reads_standard_input() -> None:
    result = runner.invoke(app, ["validate", "-"], input=CONVNET)
    assert result.exit_code == 0, result.output
    assert result.stdout == "ok: <stdin>\n"


def test_a_bad_spec_on_standard_input_is_located_as_stdin() -> None:
    result = runner.invoke(app, ["validate", "-"], input=BAD)
    assert result.exit_code == 2
    assert result.stderr == (
        "error: <stdin> is not a valid archinspect spec (1 problem)\n"
        f"<stdin>:6:{BAD_COLUMN}: model.hidden_channels: must be a positive integer, got true "
        "(a boolean)\n"
    )


@pytest.mark.usefixtures("repo_root")
def test_count_of_standard_input_is_the_count_of_the_file() -> None:
    # configs/convnet.yaml: lifting 3*1*16 + 16, nine hidden 3*16*16 + 16, projection 3*16 + 1
    total = (3 * 1 * 16 + 16) + 9 * (3 * 16 * 16 + 16) + (3 * 16 + 1)
    piped = runner.invoke(app, ["count", "-", "--depth", "0", "-f", "json"], input=CONVNET)
    assert piped.exit_code == 0, piped.output
    named = runner.invoke(app, ["count", "configs/convnet.yaml", "--depth", "0", "-f", "json"])
    from_stdin, from_file = json.loads(piped.stdout), json.loads(named.stdout)
    assert from_stdin["params"]["total"] == total
    assert (from_stdin.pop("spec"), from_file.pop("spec")) == ("<stdin>", "configs/convnet.yaml")
    assert from_stdin == from_file


@pytest.mark.usefixtures("repo_root")
def test_sweep_reads_standard_input_once_for_every_value() -> None:
    args = ["sweep", "-", "-p", "depth", "--values", "1,2,3", "-f", "json"]
    result = runner.invoke(app, args, input=CONVNET)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    # depth d: lifting 64 + (d - 1) hidden 784 + projection 49
    assert [row["params"] for row in rows] == [64 + (d - 1) * 784 + 49 for d in (1, 2, 3)]


def test_check_reads_standard_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["check", "-", "--max-params", "7168", "-f", "json"], input=CONVNET)
    assert result.exit_code == 1, result.output  # 7,169 parameters, one over
    data = json.loads(result.stdout)
    assert [(r["spec"], r["actual"]) for r in data["results"]] == [("<stdin>", 7169)]


def test_output_dash_is_standard_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["schema", "-o", "-"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["$schema"].startswith("https://json-schema.org/")
    assert result.stderr == ""  # no "wrote -"
    assert not (tmp_path / "-").exists()  # was a file named '-'


@pytest.mark.usefixtures("repo_root")
@pytest.mark.parametrize("command", ["validate", "check"])
def test_quoted_globs_expand_alike(command: str) -> None:
    result = runner.invoke(app, [command, "tests/specs/check/with*.yaml", "-f", "json"])
    assert result.exit_code == 0, result.output
    assert "tests/specs/check/within.yaml" in result.stdout
    missing = runner.invoke(app, [command, "tests/specs/check/nothing*.yaml"])
    assert missing.exit_code == 2
    assert missing.stderr == "error: no spec file matches 'tests/specs/check/nothing*.yaml'\n"


@pytest.mark.usefixtures("repo_root")
def test_diff_reads_one_side_from_standard_input() -> None:
    args = ["diff", "-", "configs/convnet.yaml", "--set-b", "model.depth=11", "-f", "json"]
    result = runner.invoke(app, args, input=CONVNET)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["a"]["spec"], data["b"]["spec"]) == ("<stdin>", "configs/convnet.yaml")
    total = next(f for f in data["figures"] if f["name"] == "params.total")
    # one more 16 -> 16 hidden conv of kernel 3: 3*16*16 + 16
    assert (total["a"], total["difference"]) == (7_169, 3 * 16 * 16 + 16)


def test_diff_refuses_standard_input_for_both_sides() -> None:
    result = runner.invoke(app, ["diff", "-", "-"], input=CONVNET)
    assert result.exit_code == 2
    assert result.stderr == "error: standard input (-) can be read once: give it as A or B\n"


def test_standard_input_has_the_limits_of_a_spec_file() -> None:
    bad = runner.invoke(app, ["validate", "-"], input=b"model: \xff\n")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: <stdin> is not UTF-8 text (invalid start byte)")
    big = runner.invoke(app, ["validate", "-"], input=b"#" * (4 * 1024 * 1024 + 1))
    assert big.exit_code == 2
    assert big.stderr == (
        "error: <stdin> is larger than a spec file may be: at most 4 MiB (4,194,304 bytes)\n"
    )
