"""The suite's own rules, checked over its source: a test that cannot fail is a defect.

- every `pytest.raises` says what it expects (`match=`), so a different error cannot pass;
- nothing is skipped because archinspect itself or a pinned test dependency failed to import
  (that would hide a broken install as a skip);
- code and tests cite the README, the only document the repository has.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = sorted((ROOT / "tests").rglob("*.py"))
PACKAGE = sorted((ROOT / "archinspect").rglob("*.py"))


def _calls(path: Path, attr: str) -> list[ast.Call]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == attr
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "pytest"
    ]


def _test_dependencies() -> set[str]:
    """Every name in pyproject's dependency lists (a plain scan: tomllib needs Python 3.11)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    lists = re.findall(r"^(?:dependencies|test) = \[(.*?)\]", text, flags=re.M | re.S)
    return {
        re.split(r"[<>=!~\[ ;]", req, maxsplit=1)[0].lower()
        for block in lists
        for req in re.findall(r'"([^"]+)"', block)
    }


def test_every_pytest_raises_has_a_match():
    missing = [
        f"{path.relative_to(ROOT)}:{call.lineno}"
        for path in TESTS
        for call in _calls(path, "raises")
        if not any(k.arg == "match" for k in call.keywords)
    ]
    assert missing == []


def test_no_importorskip_of_archinspect_or_a_pinned_dependency():
    pinned = _test_dependencies() | {"archinspect"}
    assert {"pdequinox", "jax", "equinox", "archinspect"} <= pinned
    found = []
    for path in TESTS:
        for call in _calls(path, "importorskip"):
            module = (
                call.args[0].value if call.args and isinstance(call.args[0], ast.Constant) else ""
            )
            if str(module).split(".")[0].lower() in pinned or not module:
                found.append(f"{path.relative_to(ROOT)}:{call.lineno} {module}")
    assert found == []


def test_code_and_tests_cite_the_readme_not_an_outside_document():
    cited = []
    for path in PACKAGE + TESTS:
        if path == Path(__file__).resolve():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"SPEC(\.md)? ?§|SPEC\.md|the SPEC'?s?\b", line):
                cited.append(f"{path.relative_to(ROOT)}:{number}")
    assert cited == []
