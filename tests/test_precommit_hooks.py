"""The pre-commit hook archinspect ships (.pre-commit-hooks.yaml, README "Budgets in CI") is one
pre-commit accepts: its manifest schema, and `pre-commit try-repo` running it on the configs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from pre_commit import clientlib  # the test extra

from tests.conftest import ROOT

HOOKS = ROOT / ".pre-commit-hooks.yaml"


def test_the_hooks_file_is_a_valid_pre_commit_manifest() -> None:
    (hook,) = clientlib.load_manifest(str(HOOKS))
    assert hook["id"] == "archinspect-check"
    assert hook["language"] == "python"  # pre-commit pip-installs this repository for it
    assert hook["entry"] == "archinspect check"  # the console script of pyproject.toml
    assert hook["pass_filenames"] is True


def test_pre_commit_refuses_a_broken_manifest(tmp_path) -> None:
    """The check above can fail: pre-commit's own schema rejects a hook without an entry."""
    broken = tmp_path / ".pre-commit-hooks.yaml"
    broken.write_text(HOOKS.read_text().replace("  entry: archinspect check\n", ""))
    with pytest.raises(clientlib.InvalidManifestError, match=r"Missing required key: entry"):
        clientlib.load_manifest(str(broken))


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="pre-commit try-repo needs git")
def test_pre_commit_try_repo_runs_the_hook(tmp_path) -> None:
    """What a user's pre-commit does: install this repository in its own environment, run the
    hook on budgeted specs (passes), then on a spec over its budget (fails with the check)."""
    over = tmp_path / "configs" / "over.yaml"
    over.parent.mkdir()
    over.write_text(
        "model:\n  family: MLP\n  num_spatial_dims: 1\n  in_channels: 1\n  out_channels: 1\n"
        "  num_points: 8\nbudget:\n  max_params: 10\n"
    )
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}

    def try_repo(*files: str, cwd) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "archinspect-check"]
        return subprocess.run(
            [*command, "--files", *files],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
        )

    good = try_repo("configs/unet.yaml", "configs/mlp.yaml", cwd=ROOT)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "archinspect budgets" in good.stdout and "Passed" in good.stdout
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    bad = try_repo("configs/over.yaml", cwd=tmp_path)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "Failed" in bad.stdout and "max_params" in bad.stdout
