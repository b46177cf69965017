"""`--help`, `families`, `schema` and spec validation must not import JAX (they stay fast)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

PROBE = """
import sys
from archinspect.cli import app
try:
    app({args!r})
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in ("jax", "jaxlib", "equinox", "numpy") if m in sys.modules)
print("HEAVY", heavy, "EXIT", code)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["families"],
        ["families", "ModernUNet", "--format", "json"],
        ["schema"],
        ["validate", "configs/unet.yaml", "configs/fno.yaml"],
        ["validate", "configs/*.yaml", "--format", "json"],
        ["validate", "configs/mlp.yaml", "configs/tcn.yaml", "-f", "github"],
        ["--show-completion", "bash"],
        ["validate", "--help"],
        ["count", "--help"],
    ],
)
def test_light_commands_do_not_import_jax(args):
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip().endswith("HEAVY [] EXIT 0")


def test_count_does_import_jax():
    """The probe is able to see JAX when a command really needs it (the test can fail)."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=["count", "configs/mlp.yaml", "-f", "json"])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "HEAVY ['equinox', 'jax', 'jaxlib', 'numpy'] EXIT 0" in out
