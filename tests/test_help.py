"""Help text (README "Commands"): clean usage lines, one-line command summaries, help on every
option and argument, no `-v`, and `--platform` checked by every command, before or after its
name."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from archinspect.cli import COMMANDS, SUMMARIES, app

runner = CliRunner()
NAMES = [command.__name__ for command in COMMANDS]


def _click_app():
    return typer.main.get_command(app)


def _usage(name: str) -> str:
    result = runner.invoke(app, [name, "--help"], prog_name="archinspect")
    assert result.exit_code == 0, result.output
    return next(line.strip() for line in result.stdout.splitlines() if "Usage:" in line)


@pytest.mark.parametrize(
    ("name", "usage"),
    [
        ("count", "Usage: archinspect count [OPTIONS] [SPEC]"),
        ("rf", "Usage: archinspect rf [OPTIONS] [SPEC]"),
        ("sweep", "Usage: archinspect sweep [OPTIONS] [SPEC]"),
        ("check", "Usage: archinspect check [OPTIONS] SPEC..."),
        ("validate", "Usage: archinspect validate [OPTIONS] SPEC..."),
        ("diff", "Usage: archinspect diff [OPTIONS] A B"),
        ("families", "Usage: archinspect families [OPTIONS] [NAME]"),
        ("schema", "Usage: archinspect schema [OPTIONS]"),
    ],
)
def test_usage_lines_are_clean(name: str, usage: str) -> None:
    assert _usage(name) == usage  # was `[[SPEC]]` and `{SPEC...}...`


def test_every_command_has_a_one_line_summary_shown_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At 80 columns (a narrow terminal, and piped output when COLUMNS is unset) each command's
    summary sits whole on its own row, a sentence: none wraps mid-sentence."""
    monkeypatch.setenv("COLUMNS", "80")
    rows = runner.invoke(app, ["--help"]).stdout.splitlines()
    for command in _click_app().commands.values():
        summary = command.short_help or ""
        assert summary.endswith(".") and "\n" not in summary, command.name
        row = next(line for line in rows if line.startswith(f"│ {command.name} "))
        assert row.rstrip(" │").split(None, 2)[2] == summary, row


def test_every_parameter_has_help() -> None:
    group = _click_app()
    missing = [f"archinspect {p.name}" for p in group.params if not getattr(p, "help", None)]
    for command in group.commands.values():
        for param in command.params:
            if not (getattr(param, "help", None) or "").strip():
                missing.append(f"{command.name} {param.opts[0] if param.opts else param.name}")
    assert missing == []


def test_the_walk_sees_every_command_and_option() -> None:
    """Guard for the test above: it walks all twelve commands and, e.g., solve's --max-flops."""
    commands = _click_app().commands
    assert sorted(commands) == sorted(NAMES) == sorted(SUMMARIES)
    assert "--max-flops" in {o for p in commands["solve"].params for o in p.opts}


def test_values_has_no_short_option() -> None:
    result = runner.invoke(app, ["sweep", "configs/convnet.yaml", "-p", "depth", "-v", "1"])
    assert result.exit_code == 2
    assert "No such option: -v" in result.stderr
    options = {o for p in _click_app().commands["sweep"].params for o in p.opts}
    assert "--values" in options and "-v" not in options


@pytest.mark.parametrize("name", NAMES)
def test_platform_is_checked_after_every_command_name(name: str) -> None:
    result = runner.invoke(app, [name, "--platform", "xpu"])
    assert result.exit_code == 2
    assert result.stderr == "error: --platform must be one of cpu, gpu, tpu, got 'xpu'\n"


@pytest.mark.parametrize("args", [["families"], ["schema"], ["validate", "configs/mlp.yaml"]])
def test_platform_before_the_command_is_checked_too(args: list[str]) -> None:
    result = runner.invoke(app, ["--platform", "xpu", *args])
    assert result.exit_code == 2  # was accepted unchecked by the commands that compile nothing
    assert result.stderr == "error: --platform must be one of cpu, gpu, tpu, got 'xpu'\n"
    assert runner.invoke(app, ["--platform", "cpu", *args]).exit_code == 0


@pytest.mark.usefixtures("repo_root")
def test_platform_after_the_command_wins() -> None:
    """`--platform tpu` before the name would fail on this machine (no TPU: exit 2); the one
    after the name is the one used."""
    args = ["inspect", "configs/mlp.yaml", "-f", "json"]
    refused = runner.invoke(app, ["--platform", "tpu", *args])
    assert refused.exit_code == 2
    assert "tpu" in refused.stderr
    result = runner.invoke(app, ["--platform", "tpu", *args, "--platform", "cpu"])
    assert result.exit_code == 0, result.output
