"""A spec fuzzer (README "Limits and escaping"): specs generated from the shipped configs and the
bad-spec corpus, mutated in their values, keys, nesting and YAML text, must end in exit 0, 1 or
2 with a message, never a traceback or an internal error, and in bounded time.

`make test` runs a fixed, derandomized sample (under a minute); the `slow` variants
(`make test-all`) draw many more. A failure prints the spec text that caused it.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from archinspect.cli import app

REPO = Path(__file__).resolve().parent.parent
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))
BAD = sorted((REPO / "tests/specs/bad").glob("*.yaml"))
SEEDS = [p.read_text() for p in CONFIGS + BAD]
runner = CliRunner()

# Values a mutation may put anywhere: every YAML type, edge numbers, hostile strings.
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 70),
    st.sampled_from([0, -1, 2**31, 2**63, 10**40]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "relu", "2.5M", "1e999999", "inf", "nan", "x" * 300, "\x1b[31m", "[]"]),
    st.text(max_size=12),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
# Text-level damage the YAML reader must survive: YAML features, control characters, cuts.
SNIPPETS = st.sampled_from(
    [
        "&a ",
        "*a",
        "!!python/object:os.system ",
        "!!binary ",
        "<<: *a\n",
        "---\n",
        "...\n",
        "\t",
        "{",
        "}",
        "[",
        "]",
        ": ",
        "- ",
        "? ",
        "%YAML 1.1\n",
        "\x00",
        "\ufeff",
        "'",
        '"',
        "0755",
        "1:20",
        "yes",
        "~",
        "\n  nested:\n    deeper: 1\n",
    ]
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a node of a parsed spec (mapping keys and list indices)."""
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


def _parent(data: Any, path: tuple) -> tuple[Any, Any]:
    for part in path[:-1]:
        data = data[part]
    return data, path[-1]


@st.composite
def mutated_tree(draw: st.DrawFn) -> str:
    """A seed parsed, one to three structural mutations applied, dumped back to YAML."""
    seed = draw(st.sampled_from(SEEDS))
    try:
        data = yaml.safe_load(seed)
    except (yaml.YAMLError, RecursionError):  # the corpus holds unparsable and too-deep specs
        return seed
    data = copy.deepcopy(data)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            data = draw(VALUES)
            break
        path = draw(st.sampled_from(paths))
        parent, last = _parent(data, path)
        action = draw(st.sampled_from(["replace", "delete", "wrap", "rename", "add"]))
        if action == "replace":
            parent[last] = draw(VALUES)
        elif action == "delete":
            del parent[last]
        elif action == "wrap":
            parent[last] = draw(st.sampled_from([[parent[last]], {"x": parent[last]}]))
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=10))] = parent.pop(last)
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=10))] = draw(VALUES)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@st.composite
def mutated_text(draw: st.DrawFn) -> str:
    """A seed's text with YAML snippets spliced in, or cut short."""
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:at] + draw(SNIPPETS) + text[at:]
        else:
            text = text[:at]
    return text


SPECS = st.one_of(mutated_tree(), mutated_text())
EXIT_CODES = {0, 1, 2}


def _run(tmp_path: Path, command: list[str], text: str) -> None:
    spec = tmp_path / "fuzz.yaml"
    spec.write_text(text, encoding="utf-8")
    start = time.perf_counter()
    result = runner.invoke(app, [*command[:1], str(spec), *command[1:]])
    took = time.perf_counter() - start
    shown = f"\n--- spec ---\n{text}\n--- output ---\n{result.output}"
    assert result.exit_code in EXIT_CODES, f"exit {result.exit_code}{shown}"
    assert "Traceback" not in result.output and "internal error" not in result.output, shown
    if result.exit_code == 2:
        assert result.stderr.startswith("error: "), shown
    assert took < 30, f"{took:.1f} s{shown}"


def fuzz_settings(examples: int, derandomize: bool = True) -> settings:
    return settings(
        max_examples=examples,
        derandomize=derandomize,  # make test: the same sample every run
        deadline=None,  # bounded by _run's own limit, which names the spec
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )


@fuzz_settings(100)
@given(text=SPECS)
def test_validate_never_fails_internally(tmp_path: Path, text: str) -> None:
    _run(tmp_path, ["validate"], text)


@fuzz_settings(25)
@given(text=SPECS)
def test_count_never_fails_internally(tmp_path: Path, text: str) -> None:
    _run(tmp_path, ["count", "--format", "json"], text)


@pytest.mark.slow
@fuzz_settings(2000, derandomize=False)
@given(text=SPECS)
def test_validate_fuzzed_long(tmp_path: Path, text: str) -> None:
    _run(tmp_path, ["validate"], text)


@pytest.mark.slow
@fuzz_settings(300, derandomize=False)
@given(text=SPECS)
def test_shapes_fuzzed_long(tmp_path: Path, text: str) -> None:
    _run(tmp_path, ["shapes", "--format", "json"], text)
