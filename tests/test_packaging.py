"""What an install claims (README "Set-up"): `make demo` installs the package alone, the
licence is an SPDX expression with its file, every package imported at the core is declared."""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
MAKEFILE = (ROOT / "Makefile").read_text()
TOOLS = ROOT / "tools"


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


def _min_constraints():
    """tools/min_constraints.py as a module (tools/ is a script folder, not a package)."""
    spec = importlib.util.spec_from_file_location("min_constraints", TOOLS / "min_constraints.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _declared_floors() -> dict[str, str]:
    """{name: floor} read with `packaging`, not with the script under test: every runtime
    dependency and user extra has exactly one `>=` clause."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = PYPROJECT["project"]
    extras = project["optional-dependencies"]
    out = {}
    for text in project["dependencies"] + extras["plot"] + extras["flax"]:
        requirement = Requirement(text)
        (clause,) = requirement.specifier
        assert clause.operator == ">=", text
        out[canonicalize_name(requirement.name)] = clause.version
    return out


def test_min_constraints_pin_every_declared_floor() -> None:
    """`make test-min` installs exactly the floors pyproject.toml declares (README "Set-up")."""
    output = subprocess.run(
        [sys.executable, str(TOOLS / "min_constraints.py")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pins = dict(line.split("==") for line in output.splitlines())
    floors = _declared_floors()
    assert {name: pins[name] for name in floors} == floors
    # the two packages the floors leave open, pinned to the lowest their floor allows
    assert set(pins) - set(floors) == {"jaxlib", "click"}
    assert pins["jaxlib"].split(".")[:2] == floors["jax"].split(".")[:2]


def test_the_floors_exclude_the_releases_known_to_break() -> None:
    """typer 0.12.0-0.12.3 cannot parse `str | None`, 0.12.4-0.15.x fail with click >= 8.2 and
    0.16-0.23 allow the click < 8.2 whose test runner mixes stderr into stdout; equinox 0.13.0
    and older do not import with jax 0.10 (jax.core.Primitive, batching.NotMapped are gone);
    matplotlib < 3.8.4 is built against numpy 1 and does not import with numpy 2; rich < 14.3
    renders the `rf` tables' key column two cells wider than tests/golden/rf_*.table.txt."""
    from packaging.version import Version

    floors = {name: Version(v) for name, v in _declared_floors().items()}
    assert floors["typer"] >= Version("0.24.0")
    assert floors["equinox"] >= Version("0.13.1")
    assert floors["matplotlib"] >= Version("3.8.4")
    assert floors["rich"] >= Version("14.3.0")
    assert floors["jax"] >= Version("0.10.2")  # the RF rules' primitives; jax.enable_x64
    pins = _min_constraints().TRANSITIVE
    assert Version(pins["click"]) >= Version("8.2.1")
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"  # jax 0.10 needs 3.11


def test_a_dependency_without_a_floor_is_refused() -> None:
    module = _min_constraints()
    project = {"dependencies": ["jax>=0.10.2", "rich"], "optional-dependencies": {}}
    project["optional-dependencies"] = {"plot": [], "flax": []}
    with pytest.raises(SystemExit, match=r"'rich': a dependency needs one '>=' floor"):
        module.floors({"project": project})
    project["dependencies"] = ["numpy>=2.0,<3"]
    with pytest.raises(SystemExit, match=r"'numpy>=2.0,<3': a dependency needs one '>=' floor"):
        module.floors({"project": project})


def test_test_min_installs_the_floors_and_runs_the_fast_suite() -> None:
    prerequisites, recipe = _recipe("$(MIN_STAMP)")
    assert prerequisites == ["pyproject.toml", "tools/min_constraints.py"]
    assert "$(PYTHON) tools/min_constraints.py > $(MIN_VENV)/constraints.txt" in recipe
    assert recipe[3] == "-c $(MIN_VENV)/constraints.txt -e '.[plot,flax,test]'"
    prerequisites, recipe = _recipe("test-min")
    assert prerequisites == ["$(MIN_STAMP)"]
    # installed versions checked against the pins before the suite runs
    assert recipe == [
        "$(MIN_VENV)/bin/pip check",
        "$(MIN_VENV)/bin/python tools/min_constraints.py --verify",
        '$(MIN_VENV)/bin/pytest -q -n 2 -m "not slow"',
    ]
    script = (ROOT / ".ci" / "test-min").read_text()
    assert script.rstrip().endswith("make test-min")
    assert (ROOT / ".ci" / "test-min").stat().st_mode & 0o111


def test_verify_names_a_package_installed_at_another_version() -> None:
    module = _min_constraints()
    assert module.mismatches(f"pytest=={pytest.__version__}\n") == []
    assert module.mismatches("pytest==0.0.1\n") == [
        f"pytest: installed {pytest.__version__}, floor 0.0.1"
    ]
    assert module.mismatches("no-such-package-xyz==1.0\n") == [
        "no-such-package-xyz: not installed, floor 1.0"
    ]
