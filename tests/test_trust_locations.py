"""Trusted packages are imported only from installed locations (README "Any Equinox module:
`target:`"): a `pdequinox/__init__.py` that a checkout holds never stands in for the installed
pdequinox, whether it sits in the working directory or beside the spec."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from archinspect.build import locations
from archinspect.build.target import load_target
from archinspect.errors import TrustError

SPEC = """\
model:
  target: pdequinox.arch.ClassicUNet
  num_spatial_dims: 1
  in_channels: 1
  out_channels: 1
  hidden_channels: 4
  num_levels: 1
input:
  resolution: [16]
"""


def shadow(where: Path) -> Path:
    """A fake `pdequinox` package that leaves a marker file when imported; the marker path."""
    marker = where / "IMPORTED"
    (where / "pdequinox").mkdir(parents=True)
    (where / "pdequinox" / "__init__.py").write_text(
        f"open({str(marker)!r}, 'w').write('shadow ran')\n"
    )
    return marker


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | env
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=120
    )


def test_python_m_ignores_a_package_in_the_working_directory(tmp_path: Path) -> None:
    marker = shadow(tmp_path)
    (tmp_path / "spec.yaml").write_text(SPEC)
    done = run(["-m", "archinspect", "count", "spec.yaml", "-f", "json"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert not marker.exists()
    # the installed ClassicUNet was built: 1-D, hidden 4, one level; its count is positive and
    # equals the built-in family's for the same arguments (the same architecture)
    total = json.loads(done.stdout)["params"]["total"]
    builtin = tmp_path / "builtin.yaml"
    builtin.write_text(SPEC.replace("target: pdequinox.arch.ClassicUNet", "family: ClassicUNet"))
    again = run(["-m", "archinspect", "count", "builtin.yaml", "-f", "json"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert total == json.loads(again.stdout)["params"]["total"] > 0


def test_the_drop_removes_only_the_working_directory_entry(tmp_path: Path) -> None:
    """Only the entry `python -m` adds is dropped: the standard library and site-packages stay."""
    code = (
        "import sys, runpy; before = list(sys.path[1:]); "
        "import archinspect.__main__ as m; m._drop_working_directory(); "
        "print(sys.path == before)"
    )
    done = run(["-c", code], tmp_path)
    assert done.stdout.strip() == "True", done.stderr


def test_a_shadow_found_through_an_empty_entry_is_refused_naming_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = shadow(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend("")
    monkeypatch.delitem(sys.modules, "pdequinox", raising=False)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    where = tmp_path / "pdequinox" / "__init__.py"
    with pytest.raises(TrustError, match=f"would be imported from {where}, which is not an"):
        load_target("pdequinox.arch.ClassicUNet", (), "spec.yaml")
    assert not marker.exists()


def test_a_shadow_beside_the_spec_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    specs = tmp_path / "pr" / "configs"
    marker = shadow(specs)
    monkeypatch.syspath_prepend(str(specs))  # a tool that put the spec's directory on the path
    monkeypatch.delitem(sys.modules, "pdequinox", raising=False)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    with pytest.raises(TrustError, match="Nothing was imported. Install 'pdequinox'"):
        load_target("pdequinox.arch.ClassicUNet", (), str(specs / "spec.yaml"))
    assert not marker.exists()


def test_pythonpath_is_the_users_explicit_choice(tmp_path: Path) -> None:
    """A directory put on PYTHONPATH is used, as documented: the shadow runs (and, lacking
    `pdequinox.arch`, the import then fails with exit 2)."""
    marker = shadow(tmp_path / "mine")
    (tmp_path / "spec.yaml").write_text(SPEC)
    done = run(
        ["-m", "archinspect", "count", "spec.yaml"], tmp_path, PYTHONPATH=str(tmp_path / "mine")
    )
    assert marker.read_text() == "shadow ran"
    assert done.returncode == 2
    assert "cannot import 'pdequinox.arch'" in done.stderr


def test_installed_and_standard_library_packages_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    # found on the path, not merely already imported (hypothesis imports colorsys, for one)
    for name in ("colorsys", "yaml"):
        monkeypatch.delitem(sys.modules, name, raising=False)
        locations.check_location(name, f"{name}:x", "spec.yaml")  # stdlib, site-packages


def test_pth_files_add_their_plain_lines_only(tmp_path: Path) -> None:
    (tmp_path / "a.pth").write_text("# comment\nsrc\nimport os; os.system('x')\n\n../other\n")
    (tmp_path / "b.txt").write_text("ignored\n")
    assert list(locations._pth_entries(str(tmp_path))) == [
        str(tmp_path / "src"),
        str(tmp_path / "../other"),
    ]


def tiny_package(where: Path) -> None:
    """`tinymodels.make`: a Linear(8 -> 4), 8*4 + 4 = 36 parameters."""
    (where / "tinymodels").mkdir(parents=True)
    (where / "tinymodels" / "__init__.py").write_text(
        "import equinox as eqx\n\n\ndef make(*, key):\n    return eqx.nn.Linear(8, 4, key=key)\n"
    )


TINY_SPEC = "model:\n  target: tinymodels:make\ninput:\n  shape: [8]\n  layout: channels_first\n"


def test_a_trust_path_directory_is_an_installed_location(tmp_path: Path) -> None:
    tiny_package(tmp_path / "lib")
    (tmp_path / "spec.yaml").write_text(TINY_SPEC)
    args = ["count", "spec.yaml", "--trust", "tinymodels", "-f", "json"]
    done = run(["-m", "archinspect", "--trust-path", "lib", *args], tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["params"]["total"] == 8 * 4 + 4
    # without it the directory is not on the path at all
    missing = run(["-m", "archinspect", *args], tmp_path)
    assert missing.returncode == 2
    assert "cannot import 'tinymodels' for model.target 'tinymodels:make'" in missing.stderr


def test_a_trust_path_admits_only_its_own_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = shadow(tmp_path)
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend("")
    monkeypatch.delitem(sys.modules, "pdequinox", raising=False)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    where = tmp_path / "pdequinox" / "__init__.py"
    with locations.trusting([str(tmp_path / "other")]):
        assert locations.trusted_paths() == (str((tmp_path / "other").resolve()),)
        with pytest.raises(TrustError, match=f"would be imported from {where}, which is not an"):
            load_target("pdequinox.arch.ClassicUNet", (), "spec.yaml")
    assert locations.trusted_paths() == ()
    assert not marker.exists()


def test_a_missing_trust_path_is_refused(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(TINY_SPEC)
    done = run(["-m", "archinspect", "--trust-path", "nope", "count", "spec.yaml"], tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        "error: --trust-path 'nope': no such directory; --trust-path names a directory that "
        "holds trusted packages\n"
    )
