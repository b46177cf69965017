"""Golden files for the `rf`, `check` and `sweep` views, compared byte for byte.

They change only with `pytest --update-golden` (tests/conftest.py), never by themselves. The specs
are the shipped configs and tests/specs/check, kept small so the whole file runs in seconds.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from archinspect.cli import app

runner = CliRunner()

# A small ClassicUNet (README "Exact receptive fields: `archinspect rf`"): its RF varies with
# the output position (a range and a period per axis) and its GroupNorms couple every output to
# every input.
UNET_SMALL = [
    "configs/unet.yaml",
    "--set",
    "model.hidden_channels=4",
    "--set",
    "input.resolution=[32,32]",
]
CHECK_SPECS = ["tests/specs/check/over.yaml", "tests/specs/check/within.yaml"]


def _stdout(args: list[str], exit_code: int) -> str:
    result = runner.invoke(app, ["--platform", "cpu", *args])
    assert result.exit_code == exit_code, result.output
    return result.stdout


@pytest.mark.usefixtures("repo_root")
class TestRF:
    def test_unet_table(self, golden):
        golden("rf_unet_small.table.txt", _stdout(["rf", *UNET_SMALL], 0))

    def test_fno_table_shows_spectral_coupling(self, golden):
        golden("rf_fno.table.txt", _stdout(["rf", "configs/fno.yaml"], 0))


@pytest.mark.usefixtures("repo_root")
class TestCheck:
    def test_table(self, golden):
        golden("check_over_within.table.txt", _stdout(["check", *CHECK_SPECS], 1))

    def test_table_with_a_command_line_limit(self, golden):
        args = ["check", *CHECK_SPECS, "--max-params", "1k", "--min-rf", "10"]
        golden("check_cli_limits.table.txt", _stdout(args, 1))

    def test_junit(self, golden):
        # bad.yaml cannot be checked (three located problems): an <error> testcase, exit 2
        args = ["check", "tests/specs/check/*.yaml", "--format", "junit"]
        golden("check_all.junit.xml", _stdout(args, 2))

    def test_github(self, golden):
        args = ["check", "tests/specs/check/*.yaml", "--format", "github"]
        golden("check_all.github.txt", _stdout(args, 2))


@pytest.mark.usefixtures("repo_root")
class TestSweep:
    def test_convnet_table(self, golden):
        args = ["sweep", "configs/convnet.yaml", "-p", "hidden_channels", "--values", "4,8,16"]
        golden("sweep_convnet.table.txt", _stdout(args, 0))

    def test_two_parameters_table(self, golden):
        args = ["sweep", "configs/convnet.yaml", "-p", "depth", "--values", "1,2", "-p"]
        args += ["hidden_channels", "--values", "2,3"]
        golden("sweep_convnet_2p.table.txt", _stdout(args, 0))


@pytest.mark.usefixtures("repo_root")
class TestCountRF:
    """`count --rf` shows the receptive field in every format (it was dropped in Markdown/CSV)."""

    ARGS = ["count", "configs/convnet.yaml", "--rf", "--depth", "1"]

    def test_markdown(self, golden):
        golden("count_convnet_rf_depth1.md", _stdout([*self.ARGS, "--format", "markdown"], 0))

    def test_csv(self, golden):
        golden("count_convnet_rf_depth1.csv", _stdout([*self.ARGS, "--format", "csv"], 0))
