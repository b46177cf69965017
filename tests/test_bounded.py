"""Bounded memory for abstract commands, and sizes a machine cannot hold reported as the
spec's problem (exit 2, one located paragraph), never as an internal error (README "Exit
codes").

The memory tests run `archinspect` in a subprocess under an address-space limit
(`resource.setrlimit(RLIMIT_AS)`). Importing JAX and archinspect and running one tiny JAX
operation already reserves a large address space (XLA's allocators and thread stacks: about
1.5 GB here), which no spec can lower; that floor is measured in a subprocess first, and the
limit is the floor + 1 GiB: a 10^10-parameter model must count within 1 GiB of work beyond
what the import itself takes.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
GiB = 1 << 30

_FLOOR = """
import re
import jax.numpy as jnp
import archinspect.cli, archinspect.commands.count
jnp.zeros(3).block_until_ready()
print(re.search(r"VmPeak:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
"""

_LIMITED = """
import resource, runpy, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sys.argv = ["archinspect", *sys.argv[2:]]
runpy.run_module("archinspect", run_name="__main__")
"""


@functools.cache
def import_floor() -> int:
    """Bytes of address space that importing JAX and archinspect takes (VmPeak)."""
    out = subprocess.run(
        [sys.executable, "-c", _FLOOR], capture_output=True, text=True, check=True, timeout=120
    )
    return int(out.stdout.strip()) * 1024


def limited(*args: str, extra: int = GiB) -> subprocess.CompletedProcess[str]:
    """`archinspect ARGS` with its address space limited to the import floor + `extra`."""
    return subprocess.run(
        [sys.executable, "-c", _LIMITED, str(import_floor() + extra), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )


def test_ten_billion_parameters_count_within_a_gigabyte_above_the_import():
    # 1-D ConvNet, in = out = 1, depth 10, kernel 3, width h = 20,000: lifting 3h + h, nine
    # hidden convs 3h^2 + h each, projection 3h + 1 (tests/test_solve.py's formula)
    h = 20_000
    by_hand = (3 * h + h) + 9 * (3 * h * h + h) + (3 * h + 1)
    assert by_hand == 27 * h * h + 16 * h + 1 == 10_800_320_001
    result = limited(
        "count", "configs/convnet.yaml", "--set", f"model.hidden_channels={h}", "-f", "json"
    )
    assert result.returncode == 0, result.stderr
    assert f'"total": {by_hand}' in result.stdout


def test_a_model_too_large_for_the_machine_is_the_specs_problem():
    # 10^12 layers: building the list of layers exhausts the address space (was: "internal
    # error: MemoryError", exit 3)
    result = limited("count", "configs/convnet.yaml", "--set", "model.depth=1000000000000")
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr == (
        "error: configs/convnet.yaml: the analysis ran out of memory (MemoryError); the model "
        "or input is too large for this machine: lower the sizes the spec sets (depth, widths, "
        "blocks, input.resolution, input.batch_size)\n"
    )
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_ten_thousand_layer_convnet_counts_in_bounded_time():
    """Measured (2 loaded cores): count is linear in depth, about 4 ms of CPU per layer (JAX
    tracing of the build and of one forward pass); a generous wall-clock bound, not a
    benchmark."""
    depth, h = 10_000, 16
    # lifting 3h + h, depth - 1 hidden convs 3h^2 + h, projection 3h + 1 (in = out = 1, k = 3)
    by_hand = (3 * h + h) + (depth - 1) * (3 * h * h + h) + (3 * h + 1)
    assert by_hand == 7_839_329
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "archinspect",
            "count",
            "configs/convnet.yaml",
            "--set",
            f"model.depth={depth}",
            "--depth",
            "0",
            "-f",
            "json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    assert f'"total": {by_hand}' in result.stdout


def test_recursion_and_memory_exhaustion_are_exit_2_other_exceptions_bugs():
    from archinspect.errors import InternalError, TooLarge, user_error

    deep = user_error(RecursionError("maximum recursion depth exceeded"), "deep.yaml")
    assert isinstance(deep, TooLarge) and deep.exit_code == 2
    assert deep.message == (
        "error: deep.yaml: the model is nested too deeply to analyse (RecursionError: Python's "
        "stack ran out); lower its depth or nesting (levels, blocks, nested modules)"
    )
    assert user_error(MemoryError(), "big.yaml").exit_code == 2
    bug = user_error(KeyError("x"), "a.yaml")
    assert isinstance(bug, InternalError) and bug.exit_code == 3
