"""`validate --format json|github`: spec problems for editors and CI, located as the text form
(`FILE:LINE:COL: key: message`, README "The spec file") locates them, and GitHub's escaping of
workflow commands (`%`, CR, LF in data; also `:` and `,` in properties)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archinspect.cli import app

runner = CliRunner()

GOOD = "configs/convnet.yaml"
BOOL = "tests/specs/bad/bool_for_int.yaml"
EMPTY = "tests/specs/bad/empty.yaml"


def _where(path: str, key: str) -> tuple[int, int]:
    """The 1-based line and column of `key`'s value in the file, found by reading it."""
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith(f"{key}:"):
            return number, line.index(":") + 3  # past ": ", 1-based
    raise AssertionError(f"{key} not in {path}")


@pytest.mark.usefixtures("repo_root")
def test_text_form_is_one_located_line_per_problem() -> None:
    line, col = _where(BOOL, "hidden_channels")
    result = runner.invoke(app, ["validate", BOOL])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {BOOL} is not a valid archinspect spec (1 problem)",
        f"{BOOL}:{line}:{col}: model.hidden_channels: must be a positive integer, got true "
        "(a boolean)",
    ]


@pytest.mark.usefixtures("repo_root")
def test_json_lists_every_spec_with_its_located_problems() -> None:
    line, col = _where(BOOL, "hidden_channels")
    result = runner.invoke(app, ["validate", GOOD, BOOL, EMPTY, "-f", "json"])
    assert result.exit_code == 2
    assert result.stderr == ""
    data = json.loads(result.stdout)
    assert data["valid"] is False
    assert [(s["spec"], s["valid"]) for s in data["specs"]] == [
        (GOOD, True),
        (BOOL, False),
        (EMPTY, False),
    ]
    assert data["specs"][1]["problems"] == [
        {
            "file": BOOL,
            "line": line,
            "column": col,
            "path": "model.hidden_channels",
            "message": "must be a positive integer, got true (a boolean)",
        }
    ]
    # a problem of the whole file has no position
    assert [(p["line"], p["column"], p["path"]) for p in data["specs"][2]["problems"]] == [
        (None, None, "")
    ]


@pytest.mark.usefixtures("repo_root")
def test_json_of_valid_specs_is_valid_and_exit_0() -> None:
    result = runner.invoke(app, ["validate", GOOD, "-f", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "specs": [{"spec": GOOD, "valid": True, "message": None, "problems": []}],
        "valid": True,
    }


@pytest.mark.usefixtures("repo_root")
def test_github_annotates_each_problem_line() -> None:
    line, col = _where(BOOL, "hidden_channels")
    result = runner.invoke(app, ["validate", GOOD, BOOL, EMPTY, "-f", "github"])
    assert result.exit_code == 2
    assert result.stdout.splitlines() == [
        f"::error file={BOOL},line={line},col={col},title=archinspect spec::"
        "model.hidden_channels: must be a positive integer, got true (a boolean)",
        # unlocated: the whole message on the file, its newline percent-encoded
        f"::error file={EMPTY},title=archinspect spec::error: {EMPTY} is not a valid "
        f"archinspect spec (1 problem)%0A{EMPTY}: the spec is empty; it needs at least a "
        "`model:` mapping with a `family:`",
        "3 specs: 1 valid, 2 invalid",
    ]


def test_github_escapes_properties_and_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GitHub's rules: in data `%` -> %25, CR -> %0D, LF -> %0A; in properties also
    `:` -> %3A and `,` -> %2C, so neither a file name nor a key can end the command early."""
    monkeypatch.chdir(tmp_path)
    name = "a,b:c%.yaml"
    # line 6, col 3: the unknown key "x%y<CR><LF>" (YAML escapes in a double-quoted key)
    text = "model:\n  family: ConvNet\n  num_spatial_dims: 1\n  in_channels: 1\n"
    text += '  out_channels: 1\n  "x%y\\r\\n": 1\n'
    (tmp_path / name).write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["validate", name, "-f", "github"])
    assert result.exit_code == 2
    lines = result.stdout.split("\n")
    assert lines[0].startswith(
        "::error file=a%2Cb%3Ac%25.yaml,line=6,col=3,title=archinspect spec::"
        # the key in the dotted path as data: %, CR and LF percent-encoded; quoted in the
        # message it is already shown with escapes (archinspect.text.visible)
        "model.x%25y%0D%0A: unknown key 'x%25y\\r\\n' (allowed: family,"
    )
    assert lines[1:] == ["1 spec: 0 valid, 1 invalid", ""]  # nothing split the command
    assert "\r" not in result.stdout


def test_an_unknown_format_is_a_usage_error() -> None:
    result = runner.invoke(app, ["validate", GOOD, "-f", "junit"])
    assert result.exit_code == 2
    assert "'junit' is not one of 'text', 'json', 'github'" in result.stderr
