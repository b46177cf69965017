"""The terminal is Rich's to decide (README "Commands"): width from COLUMNS or the terminal
(80 when neither says), colour from the terminal, NO_COLOR, FORCE_COLOR and TERM=dumb; shell
completion from Typer. The cases use `families` (no JAX import) and the small ConvNet."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from archinspect.cli import app
from tests.conftest import ROOT

runner = CliRunner()
ESC = "\x1b["


def _widest(text: str) -> int:
    return max(cell_len(line) for line in text.splitlines())


def families(monkeypatch: pytest.MonkeyPatch, **env: str | None) -> str:
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["families"])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_piped_output_takes_the_width_columns_says(monkeypatch: pytest.MonkeyPatch) -> None:
    wide = families(monkeypatch, COLUMNS="120")
    assert _widest(wide) > 60  # the table needs more than 60 columns at its natural width
    narrow = families(monkeypatch, COLUMNS="60")
    assert _widest(narrow) <= 60  # was always laid out at 120 when piped
    assert "ModernUNet" in narrow  # names fold, they are not dropped


def test_piped_output_without_columns_is_80_wide(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _widest(families(monkeypatch, COLUMNS="200")) > 80
    assert _widest(families(monkeypatch, COLUMNS=None)) <= 80  # Rich's default, not 120


@pytest.mark.usefixtures("repo_root")
def test_numbers_stay_whole_at_a_narrow_width(monkeypatch: pytest.MonkeyPatch) -> None:
    # configs/convnet.yaml: 11 convs of kernel 3 in 1-D, hidden 16: lifting 1 -> 16 is
    # 3*1*16 + 16 = 64, nine 16 -> 16 are 3*16*16 + 16 = 784 each, projection 16 -> 1 is
    # 3*16 + 1 = 49
    total = 64 + 9 * 784 + 49
    assert total == 7_169
    monkeypatch.setenv("COLUMNS", "30")
    table = runner.invoke(app, ["count", "configs/convnet.yaml"])
    assert table.exit_code == 0, table.output
    assert "7,169" in table.stdout
    assert "…" not in table.stdout  # no figure cut to an ellipsis
    assert _widest(table.stdout) < _widest(
        runner.invoke(app, ["count", "configs/convnet.yaml"], env={"COLUMNS": "120"}).stdout
    )


def test_force_color_colours_piped_output(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ESC not in families(monkeypatch)
    assert ESC in families(monkeypatch, FORCE_COLOR="1")  # was ignored


@pytest.mark.parametrize("env", [{"NO_COLOR": "1"}, {"TERM": "dumb"}])
def test_no_color_and_dumb_terminals_win_over_force_color(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    assert ESC not in families(monkeypatch, FORCE_COLOR="1", **env)


def test_a_report_file_is_never_coloured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    target = os.path.join(tmp_path, "families.txt")
    result = runner.invoke(app, ["families", "-o", target])
    assert result.exit_code == 0, result.output
    with open(target, encoding="utf-8") as handle:
        text = handle.read()
    assert "ModernUNet" in text and ESC not in text


def _in_a_terminal(columns: int, term: str) -> str:
    """`archinspect families` on a pseudo-terminal `columns` wide: what it printed."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR")}
    env["TERM"] = term
    proc = subprocess.Popen(
        [sys.executable, "-m", "archinspect", "families"],
        cwd=ROOT,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the follower side closed: the program ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


def test_a_terminal_gets_colour_and_its_own_width() -> None:
    text = _in_a_terminal(50, "xterm-256color")
    assert ESC in text
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert _widest(plain) <= 50  # was at least 80 on a terminal


def test_a_dumb_terminal_gets_no_escape_codes() -> None:
    text = _in_a_terminal(100, "dumb")
    assert "ModernUNet" in text
    assert "\x1b" not in text  # was coloured on any terminal


def test_show_completion_prints_a_bash_script() -> None:
    result = runner.invoke(app, ["--show-completion", "bash"], prog_name="archinspect")
    assert result.exit_code == 0, result.output
    assert "complete " in result.stdout  # bash's builtin that registers the function
    assert "_ARCHINSPECT_COMPLETE" in result.stdout  # the variable Typer's script sets


def test_completion_options_are_listed_in_help() -> None:
    result = runner.invoke(app, ["--help"])
    assert "--install-completion" in result.stdout
    assert "--show-completion" in result.stdout
