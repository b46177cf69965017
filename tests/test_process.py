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
from typer.testing import CliRunner

from archinspect.cli import app
from tests.conftest import ROOT

ARCHINSPECT = [sys.executable, "-m", "archinspect"]


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*ARCHINSPECT, *args], capture_output=True, text=True, timeout=120, **kwargs
    )


# 1 s: JAX is being imported (a KeyboardInterrupt there surfaces as an ImportError);
# 3 s: the model is traced (JAX's garbage-collection callback swallows it: "Exception ignored");
# 5 s: the programs compile in worker threads. Before the fix the last two exited 0 and wrote.
# SIGTERM (a cancelled CI job, `timeout`) ends the run the same way, 128 + 15; before, the
# process died where it stood, with no message.
@pytest.mark.parametrize(
    ("delay", "signum", "code", "word"),
    [
        pytest.param(1.0, signal.SIGINT, 130, "interrupted", marks=pytest.mark.slow),
        (3.0, signal.SIGINT, 130, "interrupted"),
        pytest.param(5.0, signal.SIGINT, 130, "interrupted", marks=pytest.mark.slow),
        (3.0, signal.SIGTERM, 143, "terminated"),
    ],
)
def test_a_signal_exits_and_leaves_the_old_report(
    tmp_path: Path, delay: float, signum: int, code: int, word: str
):
    out = tmp_path / "out.json"
    out.write_text("the old report\n")
    # five levels at 256x256: the run lasts about twice as long as the config's four levels
    # (12 s where the README's figure is 6.6 s), so the 5 s signal lands before the end
    # --no-cache: every case compiles (README "Caching"); a case whose figures an earlier case
    # kept would end sooner.
    deeper = ["--set", "model.num_levels=5", "--set", "input.resolution=256", "--no-cache"]
    process = subprocess.Popen(
        [*ARCHINSPECT, "inspect", str(ROOT / "configs/unet.yaml"), *deeper, "-o", "out.json"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(delay)
        assert process.poll() is None, "inspect ended before the signal; the case tests nothing"
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert (process.returncode, stdout, stderr) == (code, "", word + "\n")
    assert out.read_text() == "the old report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]  # no temporary file


SWALLOWED = """
import gc, signal, time
from archinspect import interrupt

interrupt.install()

def callback(phase, info):  # as JAX's garbage-collection callback: a KeyboardInterrupt raised
    gc.callbacks.remove(callback)  # while it runs is printed and dropped ("Exception ignored")
    signal.raise_signal(signal.SIGINT)

gc.callbacks.append(callback)
gc.collect()
print("swallowed", flush=True)
try:
    end = time.monotonic() + 10
    while time.monotonic() < end:  # work in Python, as tracing a model is
        sum(range(1000))
    print("never raised again")
except KeyboardInterrupt:
    print("raised again")
"""


def test_a_swallowed_interrupt_is_raised_again():
    result = subprocess.run(
        [sys.executable, "-c", SWALLOWED], capture_output=True, text=True, timeout=60
    )
    # and Python's "Exception ignored ... KeyboardInterrupt" report is not printed
    assert (result.returncode, result.stdout, result.stderr) == (0, "swallowed\nraised again\n", "")


def test_an_interrupt_that_surfaced_as_another_error_is_exit_130(monkeypatch):
    """A KeyboardInterrupt inside an extension's import comes out as an ImportError; once a
    SIGINT has been recorded, that is an interrupt (130), not an internal error (3)."""
    from typer.testing import CliRunner

    from archinspect import interrupt
    from archinspect.cli import app
    from archinspect.render import families

    def broken(*args, **kwargs):
        monkeypatch.setattr(interrupt._state, "requested", True)  # the handler's record
        raise ImportError("Encountered an error while initializing the extension.")

    monkeypatch.setattr(interrupt._state, "delivered", False)
    monkeypatch.setattr(families, "families_table", broken)
    result = CliRunner().invoke(app, ["families"])
    assert (result.exit_code, result.stdout, result.stderr) == (130, "", "interrupted\n")


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
            # validate writes its report with --output too (README "The spec file")
            ["validate", "configs/convnet.yaml"],
            "error: standard output is closed, so there is nowhere to print; "
            "pass --output FILE to write the report to a file\n",
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


def test_two_runs_writing_one_output_never_interleave(tmp_path: Path):
    """Two runs racing to the same `--output` leave one whole report, either one: each is
    written to its own temporary file and moved into place in one step."""
    widths = ("8", "16")
    solo = {}
    for width in widths:
        # Each whole report, for reference: in process (the race below is what needs processes)
        args = ["count", str(ROOT / "configs/convnet.yaml")]
        done = CliRunner().invoke(
            app, [*args, "--set", f"model.hidden_channels={width}", "-f", "json"]
        )
        assert done.exit_code == 0, done.output
        solo[width] = done.stdout
    assert solo["8"] != solo["16"]
    for _ in range(1):
        racers = [
            subprocess.Popen(
                [
                    *ARCHINSPECT,
                    "count",
                    str(ROOT / "configs/convnet.yaml"),
                    "--set",
                    f"model.hidden_channels={width}",
                    "-f",
                    "json",
                    "-o",
                    "out.json",
                ],
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for width in widths
        ]
        for racer in racers:
            assert racer.wait(timeout=120) == 0, racer.stderr.read() if racer.stderr else ""
        assert (tmp_path / "out.json").read_text() in solo.values()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
