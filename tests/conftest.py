"""Shared fixtures. Golden files change only with an explicit `--update-golden`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# XLA's CPU backend at optimisation level 0 for the whole session, in process and in the
# subprocesses the tests start (they inherit the environment). Most of the suite's time is XLA
# compiling small programs it runs once (the tests' Jacobian oracles, eager weight draws,
# concrete forwards); level 0 compiles them about 5x faster. The figures do not move:
# `inspect` and the empirical receptive field already compile at level 0
# (archinspect/commands/inspect.py, COMPILE_OPTIONS), and the level only changes the machine
# code LLVM emits, not the HLO that FLOPs and memory are read from. Set here, at import, before
# any test module can start JAX's backend (which reads XLA_FLAGS once).
_LEVEL_0 = "--xla_backend_optimization_level=0"
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_LEVEL_0}".strip()


def slow_after(cases, keep: int) -> list:
    """The first `keep` cases run in every `make test`; the rest of the grid is marked slow and
    runs in `make test-all` (README, "Development": the suite stays under five minutes on two
    cores, and no case is dropped)."""
    out = []
    for i, case in enumerate(cases):
        if i < keep:
            out.append(case)
        else:
            values = case if isinstance(case, tuple) else (case,)
            out.append(pytest.param(*values, marks=pytest.mark.slow))
    return out


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/golden/* from the current output",
    )


# The width every CLI table in the tests (and the goldens, tests/golden) is laid out at. The CLI
# lets Rich size its output (COLUMNS, else the terminal, else 80), so the tests say it here,
# and clear what would colour or re-size a developer's run.
GOLDEN_COLUMNS = "120"


@pytest.fixture(autouse=True)
def _terminal_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", GOLDEN_COLUMNS)
    monkeypatch.setenv("TERM", "xterm-256color")
    for name in ("NO_COLOR", "FORCE_COLOR", "LINES", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    # Typer finds the shell to complete for from the parent processes; under `make` that is
    # /bin/sh, which it does not support. Its test switch makes `--show-completion SHELL` take
    # the shell as a value instead, so the tests do not depend on who started pytest.
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")


@pytest.fixture(scope="session", autouse=True)
def _xla_cache_dir(tmp_path_factory: pytest.TempPathFactory):
    """One cache of XLA figures (README "Caching") for the whole session, never the user's:
    the tests, in process or in subprocesses (they inherit the environment), that analyse the
    same program compile it once. The pytest-xdist workers share it (entries are written
    atomically); it starts empty every session, so no figure outlives the code it came from."""
    base = tmp_path_factory.getbasetemp()
    where = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "xla-cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ARCHINSPECT_CACHE_DIR", str(where))
        yield where


@pytest.fixture
def repo_root(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from the repository root so relative spec paths in messages are stable."""
    monkeypatch.chdir(ROOT)
    return ROOT


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    update = request.config.getoption("--update-golden")

    def check(name: str, actual: str) -> None:
        path = ROOT / "tests" / "golden" / name
        if update:
            path.write_text(actual, encoding="utf-8")
        assert path.exists(), f"missing golden file {path}; run pytest --update-golden once"
        assert actual == path.read_text(encoding="utf-8")

    return check
