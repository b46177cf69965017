"""What an install claims (README "Set-up"): `make demo` installs the package alone, the
licence is an SPDX expression with its file, every package imported at the core is declared."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
MAKEFILE = (ROOT / "Makefile").read_text()


def _recipe(target: str) -> tuple[list[str], list[str]]:
    """(prerequisites, recipe lines) of a Makefile rule, variables as written."""
    match = re.search(rf"^{re.escape(target)}:([^\n]*)\n((?:\t[^\n]*\n)*)", MAKEFILE, re.M)
    assert match, target
    return match.group(1).split(), [line.strip() for line in match.group(2).splitlines()]


def test_demo_installs_the_package_without_extras() -> None:
    prerequisites, _ = _recipe("demo")
    assert prerequisites == ["$(USER_STAMP)"]
    _, install = _recipe("$(USER_STAMP)")
    assert install == ["$(PIP) -e .", "touch $(USER_STAMP)"]


def test_test_installs_the_test_and_dev_extras() -> None:
    assert _recipe("test")[0] == ["$(STAMP)"]
    assert _recipe("$(STAMP)")[1][0] == "$(PIP) -e '.[plot,test,dev]'"
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert {r.split(">")[0] for r in extras["dev"]} == {"ruff", "mypy"}
    assert not any(r.startswith(("ruff", "mypy")) for r in extras["test"])


def test_the_licence_is_an_spdx_expression_with_its_file() -> None:
    project = PYPROJECT["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")
    # PEP 639 fields need setuptools 77 to build without its deprecation warnings
    assert PYPROJECT["build-system"]["requires"] == ["setuptools>=77"]


def test_every_third_party_import_of_the_package_core_is_declared() -> None:
    """Top-level imports of archinspect/ outside the optional parts (flax, matplotlib) must be
    the standard library, archinspect itself, or a declared dependency (numpy was missing)."""
    declared = {re.split(r"[<>=!~ ]", r)[0].lower() for r in PYPROJECT["project"]["dependencies"]}
    names = {"pyyaml": "yaml"}
    declared = {names.get(d, d) for d in declared}
    optional = {"flax", "matplotlib", "jaxlib"}  # extras; jaxlib comes with jax
    found: set[str] = set()
    for path in (ROOT / "archinspect").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    third_party = found - set(sys.stdlib_module_names) - {"archinspect", "__future__"}
    assert third_party - optional <= declared, sorted(third_party - optional - declared)
    assert "numpy" in declared
