"""What every command pays before it does its own work (README "Performance"): Typer reads
every command's signature at each start, and rendering imports the renderer of the report
asked for, not of every report."""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
from collections.abc import Callable

import pytest

from archinspect.cli import COMMANDS, app
from tests.conftest import ROOT

FORMATS = ("json", "table", "csv", "markdown")


def _string_annotations(function: Callable[..., object]) -> list[str]:
    """The parameters (and `return`) whose annotation is a string that Typer must eval."""
    return [k for k, v in inspect.get_annotations(function).items() if isinstance(v, str)]


def test_the_string_finder_finds_a_string_annotation():
    def command(spec=None, depth=2): ...

    # what a module without `from __future__ import annotations` holds: the objects
    command.__annotations__ = {"spec": str | None, "depth": int}
    assert _string_annotations(command) == []
    command.__annotations__["depth"] = "int"  # what that import makes of it (this module's)
    assert _string_annotations(command) == ["depth"]


def test_command_signatures_hold_no_string_annotation():
    root = app.registered_callback
    assert root is not None and root.callback is not None
    signatures = [*COMMANDS, root.callback]
    assert len(signatures) == 13 + 1  # the 13 commands `--help` lists, and the root options
    assert {f.__name__: _string_annotations(f) for f in signatures} == {
        f.__name__: [] for f in signatures
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_entry_point_is_its_reports_renderer(fmt: str):
    module = importlib.import_module(f"archinspect.render.{fmt}")
    lazy = {name for name in module.__all__ if name.endswith(f"_{fmt}")} - {"validate_json"}
    # check, count, diff, equivariance, init, inspect, rf, solve, sweep
    assert len(lazy) == 9
    for name in lazy:
        report = name.removesuffix(f"_{fmt}")
        renderer = importlib.import_module(f"archinspect.render.{report}")
        assert getattr(module, name) is getattr(renderer, f"to_{fmt}")
    with pytest.raises(AttributeError, match=rf"archinspect\.render\.{fmt}' has no attribute 'x'"):
        module.x  # noqa: B018


def test_count_as_json_loads_no_other_reports_renderer_no_flax_wrapper_no_rich():
    # The CLI in a fresh process, as a user runs it; what it loaded is listed at exit.
    code = (
        "import atexit, json, sys\n"
        "atexit.register(lambda: sys.stderr.write(json.dumps(sorted(sys.modules))))\n"
        "sys.argv = ['archinspect', 'count', 'configs/convnet.yaml', '-f', 'json']\n"
        "from archinspect.cli import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=240
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["params"]["total"] == 7_169  # 64 + 9 * 784 + 49
    loaded = set(json.loads(done.stderr))
    assert {"archinspect.render.count", "archinspect.render.json"} <= loaded
    others = {"check", "diff", "equivariance", "init", "inspect", "solve", "sweep"}
    assert loaded & {f"archinspect.render.{name}" for name in others} == set()
    # a Flax model is wrapped by this module, so a count without one never needs it
    assert "archinspect.build.flax" not in loaded
    assert "rich" not in loaded  # the table's library; JSON does without it
