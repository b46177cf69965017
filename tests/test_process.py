"""The archinspect process under hostile conditions (README "Exit codes"): Ctrl-C at any moment,
a reader that closes the pipe early, a full or closed standard output. Each case runs the real
program in a subprocess, as a shell or a CI job would."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

ARCHINSPECT = [sys.executable, "-m", "archinspect"]


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*ARCHINSPECT, *args], capture_output=True, text=True, timeout=120, **kwargs
    )


# 1 s: JAX is being imported (a KeyboardInterrupt there surfaces as an ImportError);
# 3 s: the model is traced (JAX's garbage-collection callback swallows it: "Exception ignored");
# 5 s: the programs compile in worker threads. Before the fix the last two exited 0 and wrote.
@pytest.mark.parametrize("delay", [1.0, 3.0, 5.0])
def test_ctrl_c_exits_130_and_leaves_the_old_report(tmp_path: Path, delay: float):
    out = tmp_path / "out.json"
    out.write_text("the old report\n")
    process = subprocess.Popen(
        [*ARCHINSPECT, "inspect", str(ROOT / "configs/unet.yaml"), "-o", "out.json"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(delay)
        assert process.poll() is None, "inspect ended before the signal; the case tests nothing"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert (process.returncode, stdout, stderr) == (130, "", "interrupted\n")
    assert out.read_text() == "the old report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]  # no temporary file


def test_a_reader_that_stops_early_ends_the_run_quietly():
    """`archinspect families | head -1` where head has gone before the table is written."""
    read, write = os.pipe()
    os.close(read)
    try:
        result = subprocess.run(
            [*ARCHINSPECT, "families"], stdout=write, stderr=subprocess.PIPE, text=True, timeout=60
        )
    finally:
        os.close(write)
    assert (result.returncode, result.stderr) == (141, "")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
@pytest.mark.parametrize("args", [["families"], ["validate", "configs/convnet.yaml"]])
def test_a_full_stdout_is_a_one_line_error(args: list[str]):
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [*ARCHINSPECT, *args], cwd=ROOT, stdout=full, stderr=subprocess.PIPE, text=True
        )
    assert (result.returncode, result.stderr) == (
        2,
        "error: cannot write to standard output: No space left on device\n",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["families"],
            "error: standard output is closed, so there is nowhere to print; "
            "pass --output FILE to write the report to a file\n",
        ),
        (
            ["validate", "configs/convnet.yaml"],
            "error: standard output is closed, so there is nowhere to print\n",
        ),
    ],
)
def test_a_closed_stdout_is_a_one_line_error(args: list[str], message: str):
    command = " ".join(shlex.quote(a) for a in [*ARCHINSPECT, *args]) + " >&-"
    result = subprocess.run(
        command, shell=True, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stderr) == (2, message)


def test_a_closed_stdout_is_fine_with_output(tmp_path: Path):
    command = " ".join(shlex.quote(a) for a in [*ARCHINSPECT, "families", "-o", "f.txt"]) + " >&-"
    result = subprocess.run(
        command, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stderr) == (0, "wrote f.txt\n")
    assert (tmp_path / "f.txt").read_text().startswith("built-in families")
