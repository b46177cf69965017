"""The bad-spec corpus: every tests/specs/bad/<case>.yaml must fail with exactly <case>.err.

Each .err file holds the full stderr of `archinspect count tests/specs/bad/<case>.yaml`, run
from the repository root (paths in messages are printed as they were passed). The messages
are asserted word for word, so a change in wording is a deliberate edit of the .err file.

Cases listed in KNOWN_BUGS hold the message archinspect *should* print; they are strict
xfails, so fixing the loader turns them into failures until the case is removed from the list.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from archinspect.cli import app
from archinspect.errors import SpecError

REPO = Path(__file__).resolve().parent.parent
BAD = "tests/specs/bad"
CASES = sorted(p.stem for p in (REPO / BAD).glob("*.yaml"))

KNOWN_BUGS: dict[str, str] = {}

runner = CliRunner()


def _params(cases: list[str]) -> list:
    return [
        pytest.param(
            case,
            id=case,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[case])]
            if case in KNOWN_BUGS
            else [],
        )
        for case in cases
    ]


def _path(case: str) -> str:
    return f"{BAD}/{case}.yaml"


def _expected(case: str) -> str:
    return (REPO / BAD / f"{case}.err").read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def test_corpus_is_complete() -> None:
    errs = sorted(p.stem for p in (REPO / BAD).glob("*.err"))
    assert errs == CASES
    assert len(CASES) >= 25
    assert set(KNOWN_BUGS) <= set(CASES)


@pytest.mark.parametrize("case", CASES)
def test_err_file_is_well_formed(case: str) -> None:
    """Header names the file and counts the problems; located problems come sorted by line."""
    lines = _expected(case).splitlines()
    head = re.fullmatch(
        rf"error: {re.escape(_path(case))} is not a valid archinspect spec "
        r"\((\d+) problems?\)",
        lines[0],
    )
    assert head is not None, lines[0]
    assert int(head.group(1)) == len(lines) - 1
    # one problem a line, `path:line:col: dotted.path: message` as compilers print them (or
    # `path: message` for a problem with no position), so that editors and CI pick them up
    assert all(line.startswith(f"{_path(case)}:") for line in lines[1:])
    positions = [
        (int(m.group(1)), int(m.group(2)))
        for m in (re.match(rf"{re.escape(_path(case))}:(\d+):(\d+): ", line) for line in lines[1:])
        if m is not None
    ]
    assert positions == sorted(positions)


@pytest.mark.parametrize("case", _params(CASES))
def test_count_reports_exact_message(case: str) -> None:
    result = runner.invoke(app, ["count", _path(case)])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr == _expected(case)
    assert "Traceback" not in result.output


@pytest.mark.parametrize("case", _params(CASES))
def test_validate_reports_same_message(case: str) -> None:
    result = runner.invoke(app, ["validate", _path(case)])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr == _expected(case)


def test_validate_reports_every_file_and_fails_once() -> None:
    good = "configs/convnet.yaml"
    result = runner.invoke(app, ["validate", good, _path("empty"), _path("num_spatial_dims_4")])
    assert result.exit_code == 2
    assert result.stdout == f"ok: {good}\n"
    assert result.stderr == _expected("empty") + _expected("num_spatial_dims_4")


@pytest.mark.parametrize(
    "case",
    [
        *_params(["several_problems", "invalid_yaml"]),
        *(pytest.param(c, marks=pytest.mark.slow) for c in ("duplicate_top_key", "empty")),
    ],
)
def test_subprocess_exit_code_and_stderr(case: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "archinspect", "count", _path(case)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == _expected(case)


def test_debug_raises_the_spec_error_in_process() -> None:
    result = runner.invoke(app, ["--debug", "count", _path("negative_int")])
    assert result.exit_code == 1
    assert isinstance(result.exception, SpecError)
    assert result.exception.message + "\n" == _expected("negative_int")
    assert result.exc_info is not None
    text = "".join(traceback.format_exception(*result.exc_info))
    assert text.startswith("Traceback (most recent call last):")


def test_debug_shows_traceback_in_subprocess() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "archinspect", "--debug", "count", _path("negative_int")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "Traceback (most recent call last):" in proc.stderr
    assert "archinspect.errors.SpecError: error: tests/specs/bad/negative_int.yaml" in proc.stderr


# --- the python-object tag must be refused without running anything -------------------------

SENTINEL = "archinspect_pwned"  # what the payload in python_object_tag.yaml would create
TAG_LINE = (
    "tests/specs/bad/python_object_tag.yaml:6:20: model.hidden_channels: YAML tag "
    "'!!python/object/apply:os.system' is not allowed; "
    "archinspect reads plain (safe) YAML only"
)


def _copy_tag_case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    rel = _path("python_object_tag")
    (tmp_path / BAD).mkdir(parents=True)
    shutil.copy(REPO / rel, tmp_path / rel)
    monkeypatch.chdir(tmp_path)
    return rel


def test_python_tag_payload_is_live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard for the test below: an unsafe loader really would run the payload."""
    rel = _copy_tag_case(tmp_path, monkeypatch)
    yaml.unsafe_load((tmp_path / rel).read_text(encoding="utf-8"))
    assert (tmp_path / SENTINEL).exists()


def test_python_tag_is_refused_without_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rel = _copy_tag_case(tmp_path, monkeypatch)
    result = runner.invoke(app, ["count", rel])
    proc = subprocess.run(
        [sys.executable, "-m", "archinspect", "count", rel],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert not (tmp_path / SENTINEL).exists()
    for code, err in ((result.exit_code, result.stderr), (proc.returncode, proc.stderr)):
        assert code == 2
        assert TAG_LINE in err.splitlines()
        assert "Traceback" not in err
