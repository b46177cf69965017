"""The cache of XLA figures (README "Caching"): a hit gives byte-identical reports, a changed
program misses, a damaged entry is ignored and recomputed, an unwritable directory only loses
the cache, the off switches compile again, and concurrent writers leave valid entries.

Compiles and lowered cost analyses are counted with a monkeypatched counter: deterministic, no
timing. Every test points the cache at its own tmp dir, never the user's home.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jax
import pytest
from typer.testing import CliRunner

from archinspect.analysis import flops as flops_mod
from archinspect.analysis import xla_cache
from archinspect.analysis.xla_cache import XlaCache, XlaFigures
from archinspect.cli import app
from archinspect.report import XlaMemory
from tests.conftest import ROOT, slow_after

pytestmark = pytest.mark.usefixtures("repo_root")

# ConvNet, 1-D, 10 cells, circular 3-tap convs; a conv's FLOPs are 2 * MACs + one bias add per
# output element, a ReLU one per element (as tests/test_inspect_speed.py works them out).
CONVNET = ["--set", "model.depth=3", "--set", "input.resolution=10"]


def convnet_forward(hidden: int) -> int:
    lift = 2 * 1 * hidden * 3 * 10 + hidden * 10
    inner = 2 * hidden * hidden * 3 * 10 + hidden * 10
    project = 2 * hidden * 1 * 3 * 10 + 1 * 10
    return lift + 2 * inner + project + 3 * hidden * 10


assert convnet_forward(4) == 280 + 2 * 1_000 + 250 + 120 == 2_650

SMALL = {
    "convnet": ["configs/convnet.yaml", *CONVNET, "--set", "model.hidden_channels=4"],
    "tcn": [
        "configs/tcn.yaml",
        "--set",
        "model.num_channels=[4, 4]",
        "--set",
        "input.resolution=16",
    ],
    "unet": [
        "configs/unet.yaml",
        "--set",
        "model.hidden_channels=4",
        "--set",
        "input.resolution=16",
        "--set",
        "model.num_levels=2",
    ],
}


# The tests about the cache itself need no per-layer table: the root row only, no RF.
QUICK = ["inspect", *SMALL["convnet"], "--depth", "0", "--no-rf", "--format", "json"]


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh cache directory, nothing kept in memory from earlier tests."""
    where = tmp_path / "cache"
    monkeypatch.setenv("ARCHINSPECT_CACHE_DIR", str(where))
    monkeypatch.delenv("ARCHINSPECT_NO_CACHE", raising=False)
    xla_cache.forget_in_memory()
    flops_mod.clear_shared_cache()
    yield where
    xla_cache.forget_in_memory()


class Counts:
    def __init__(self) -> None:
        self.compiles = 0
        self.lowered = 0


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> Counts:
    """How many programs XLA compiled, and how many lowered programs it cost-analysed."""
    seen = Counts()
    compile_, cost = jax.stages.Lowered.compile, jax.stages.Lowered.cost_analysis

    def compile_counted(self, *args, **kwargs):
        seen.compiles += 1
        return compile_(self, *args, **kwargs)

    def cost_counted(self, *args, **kwargs):
        seen.lowered += 1
        return cost(self, *args, **kwargs)

    monkeypatch.setattr(jax.stages.Lowered, "compile", compile_counted)
    monkeypatch.setattr(jax.stages.Lowered, "cost_analysis", cost_counted)
    return seen


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def entries(where: Path) -> list[Path]:
    return sorted((where / "xla").glob("*.json"))


def cold(counts: Counts) -> None:
    """Forget what this process kept, so the next run reads the directory (or compiles)."""
    xla_cache.forget_in_memory()
    flops_mod.clear_shared_cache()
    counts.compiles = counts.lowered = 0


@pytest.mark.parametrize("name", slow_after(list(SMALL), keep=2))
def test_a_hit_gives_the_same_report_byte_for_byte(
    name: str, cache_dir: Path, counts: Counts
) -> None:
    args = ["inspect", *SMALL[name], "--format", "json"]
    miss = invoke(*args)
    assert counts.compiles == 2  # the forward pass and the training step
    assert counts.lowered > 0  # the per-layer and whole-program FLOPs
    kept = entries(cache_dir)
    assert len(kept) == 2 + counts.lowered  # one entry per program analysed
    cold(counts)
    hit = invoke(*args)
    assert (counts.compiles, counts.lowered) == (0, 0)  # every figure read from the directory
    assert hit == miss
    if name == "convnet":  # the figure itself, worked out by hand above
        assert json.loads(hit)["flops"]["forward"] == convnet_forward(4) == 2_650


def _budgeted(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(body + "budget:\n  max_flops: 1G\n  max_memory: 1G\n", encoding="utf-8")
    return str(path)


CONVNET_SPEC = """\
model:
  family: ConvNet
  num_spatial_dims: 1
  in_channels: 1
  out_channels: 1
  hidden_channels: 4
  depth: 3
input:
  resolution: [10]
"""


def test_check_hit_and_miss_give_the_same_json(
    tmp_path: Path, cache_dir: Path, counts: Counts
) -> None:
    wider = CONVNET_SPEC.replace("hidden_channels: 4", "hidden_channels: 5")
    specs = [
        _budgeted(tmp_path, "convnet", CONVNET_SPEC),
        _budgeted(tmp_path, "wider", wider),
        _budgeted(tmp_path, "wider-again", wider),  # the same programs as wider.yaml
    ]
    miss = invoke("check", *specs, "--format", "json")
    # two programs per distinct spec; the third spec's are the second's, reused in memory
    assert counts.compiles == 2 * 2
    cold(counts)
    hit = invoke("check", *specs, "--format", "json")
    assert counts.compiles == 0
    assert hit == miss
    flops = [r["actual"] for r in json.loads(hit)["results"] if r["budget"] == "max_flops"]
    assert flops == [convnet_forward(4), convnet_forward(5), convnet_forward(5)]


def test_another_width_misses(cache_dir: Path, counts: Counts) -> None:
    args = ["inspect", "configs/convnet.yaml", *CONVNET, "-f", "json", "--no-rf", "--depth", "0"]
    invoke(*args, "--set", "model.hidden_channels=4")
    assert counts.compiles == 2
    wider = json.loads(invoke(*args, "--set", "model.hidden_channels=5"))
    assert counts.compiles == 4  # a changed spec is a changed program: compiled
    assert wider["flops"]["forward"] == convnet_forward(5) == 3_910
    assert len(entries(cache_dir)) == 2 * 2 + counts.lowered


GOOD = XlaFigures(7, XlaMemory(1, 2, 3, 0, 0))
KEY = "ab" * 32


def _entry(**changes: object) -> bytes:
    entry: dict[str, object] = {
        "format": xla_cache.FORMAT,
        "key": KEY,
        "flops": 7,
        "memory": {
            "argument_bytes": 1,
            "output_bytes": 2,
            "temp_bytes": 3,
            "alias_bytes": 0,
            "generated_code_bytes": 0,
        },
    }
    entry.update(changes)
    return json.dumps(entry).encode()


BAD_ENTRIES = {
    "empty": b"",
    "truncated": _entry()[:40],
    "garbage": bytes(range(256)),
    "a list": b"[7]",
    "flops a string": _entry(flops="7"),
    "flops a float": _entry(flops=7.0),
    "flops a bool": _entry(flops=True),
    "flops negative": _entry(flops=-7),
    "flops too large": _entry(flops=2**63),
    "another key": _entry(key="cd" * 32),
    "another format": _entry(format=xla_cache.FORMAT + 1),
    "an extra field": _entry(extra=1),
    "memory a list": _entry(memory=[1, 2, 3, 0, 0]),
    "memory field missing": _entry(memory={"argument_bytes": 1}),
    "memory field a string": _entry(
        memory={
            "argument_bytes": "1",
            "output_bytes": 2,
            "temp_bytes": 3,
            "alias_bytes": 0,
            "generated_code_bytes": 0,
        }
    ),
    "deeply nested": b"[" * 100_000,
    "oversized": _entry()[:-1] + b" " * xla_cache.MAX_ENTRY_BYTES + b"}",
}


def test_the_entry_format_round_trips(tmp_path: Path) -> None:
    cache = XlaCache(tmp_path)
    cache.put(KEY, GOOD)
    xla_cache.forget_in_memory()
    assert json.loads((tmp_path / "xla" / f"{KEY}.json").read_bytes()) == json.loads(_entry())
    assert cache.get(KEY) == GOOD
    assert xla_cache._decode(_entry(memory=None), KEY) == XlaFigures(7, None)


@pytest.mark.parametrize("case", list(BAD_ENTRIES))
def test_a_damaged_entry_is_a_miss(case: str, tmp_path: Path) -> None:
    path = tmp_path / "xla" / f"{KEY}.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(BAD_ENTRIES[case])
    xla_cache.forget_in_memory()
    assert XlaCache(tmp_path).get(KEY) is None


def test_damaged_entries_are_recomputed_and_replaced(cache_dir: Path, counts: Counts) -> None:
    args = list(QUICK)
    miss = invoke(*args)
    kept = entries(cache_dir)
    damage = list(BAD_ENTRIES.values())
    for i, path in enumerate(kept):
        path.write_bytes(damage[i % len(damage)])
    cold(counts)
    again = invoke(*args)
    assert counts.compiles == 2  # nothing trusted: every program analysed again
    assert again == miss
    for path in kept:  # and written back whole
        assert xla_cache._decode(path.read_bytes(), path.stem) is not None


def test_a_symbolic_link_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_bytes(_entry())
    link = tmp_path / "xla" / f"{KEY}.json"
    link.parent.mkdir()
    link.symlink_to(target)
    xla_cache.forget_in_memory()
    assert XlaCache(tmp_path).get(KEY) is None
    XlaCache(tmp_path).put(KEY, XlaFigures(8))
    assert not link.is_symlink()  # replaced, not written through
    assert target.read_bytes() == _entry()


def test_an_unwritable_directory_only_loses_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counts: Counts
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory", encoding="utf-8")
    monkeypatch.setenv("ARCHINSPECT_CACHE_DIR", str(blocker / "cache"))
    cold(counts)
    args = list(QUICK)
    quiet = CliRunner().invoke(app, args)
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stderr == ""  # said under --debug only
    assert json.loads(quiet.stdout)["flops"]["forward"] == convnet_forward(4)
    cold(counts)
    debug = CliRunner().invoke(app, ["--debug", *args])
    assert debug.exit_code == 0, debug.output
    assert debug.stdout == quiet.stdout
    assert debug.stderr.startswith(f"xla cache: cannot write {blocker / 'cache' / 'xla'}: ")
    assert debug.stderr.endswith("; figures are not kept across runs\n")
    assert debug.stderr.count("\n") == 1  # said once, however many programs


@pytest.mark.parametrize("how", ["--no-cache", "ARCHINSPECT_NO_CACHE=1"])
def test_the_off_switches_compile_again_and_keep_nothing(
    how: str, cache_dir: Path, counts: Counts, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = list(QUICK)
    first = invoke(*args)
    assert counts.compiles == 2
    kept = {p: p.read_bytes() for p in entries(cache_dir)}
    if how.startswith("--"):
        args.append(how)
    else:
        monkeypatch.setenv("ARCHINSPECT_NO_CACHE", how.partition("=")[2])
    for _ in range(2):  # neither from the directory nor from memory
        counts.compiles = 0
        assert invoke(*args) == first
        assert counts.compiles == 2
    assert {p: p.read_bytes() for p in entries(cache_dir)} == kept  # nothing written


def test_a_bad_off_switch_is_an_error(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHINSPECT_NO_CACHE", "maybe")
    result = CliRunner().invoke(app, ["inspect", *SMALL["convnet"]])
    assert result.exit_code == 2
    assert result.stderr == (
        "error: ARCHINSPECT_NO_CACHE must be 1, true, yes or on (no cache) or 0, false, no, "
        "off or empty (cache), got 'maybe'\n"
    )
    # A command that compiles nothing never reads it.
    counted = CliRunner().invoke(app, ["count", *SMALL["convnet"], "-f", "json"])
    assert counted.exit_code == 0, counted.output
    # lift 1 -> 4, two 4 -> 4, projection 4 -> 1, 3-tap convs with biases
    total = (1 * 4 * 3 + 4) + 2 * (4 * 4 * 3 + 4) + (4 * 1 * 3 + 1)
    assert json.loads(counted.stdout)["params"]["total"] == total == 133


def test_the_values_of_the_off_switch() -> None:
    for value in ("1", "true", "Yes", "ON"):
        assert XlaCache.from_environment({"ARCHINSPECT_NO_CACHE": value}).enabled is False
    for value in ("", "0", "false", "No", "off"):
        assert XlaCache.from_environment({"ARCHINSPECT_NO_CACHE": value}).enabled is True
    assert XlaCache.from_environment({}, off=True).enabled is False


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"ARCHINSPECT_CACHE_DIR": "/a/b", "XDG_CACHE_HOME": "/x"}, "/a/b"),
        ({"ARCHINSPECT_CACHE_DIR": "", "XDG_CACHE_HOME": "/x"}, "/x/archinspect"),
        ({"XDG_CACHE_HOME": "relative"}, "~/.cache/archinspect"),  # ignored, as XDG says
        ({}, "~/.cache/archinspect"),
    ],
)
def test_where_the_cache_lives(env: dict[str, str], expected: str) -> None:
    assert xla_cache.default_directory(env) == Path(expected).expanduser()


def test_the_key_changes_with_what_the_compile_depends_on(monkeypatch: pytest.MonkeyPatch) -> None:
    import jax.numpy as jnp

    def lower(n: int):
        return jax.jit(lambda x: jnp.sin(x) * 2).lower(jax.ShapeDtypeStruct((n,), jnp.float32))

    cache = XlaCache(None)
    base = cache.key(lower(8), "compiled", {"xla_backend_optimization_level": 0})
    assert cache.key(lower(8), "compiled", {"xla_backend_optimization_level": 0}) == base
    others = {
        cache.key(lower(9), "compiled", {"xla_backend_optimization_level": 0}),
        cache.key(lower(8), "compiled", {"xla_backend_optimization_level": 1}),
        cache.key(lower(8), "compiled", {}),
        cache.key(lower(8), "lowered", {"xla_backend_optimization_level": 0}),
    }
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_fusion_emitters=false")
    others.add(cache.key(lower(8), "compiled", {"xla_backend_optimization_level": 0}))
    monkeypatch.setattr(xla_cache, "FORMAT", xla_cache.FORMAT + 1)
    monkeypatch.delenv("XLA_FLAGS")
    others.add(cache.key(lower(8), "compiled", {"xla_backend_optimization_level": 0}))
    assert len(others) == 6 and base not in others


_WRITER = """
import sys
from pathlib import Path
from archinspect.analysis.xla_cache import XlaCache, XlaFigures
from archinspect.report import XlaMemory

cache = XlaCache(Path(sys.argv[1]))
for round in range(int(sys.argv[2])):
    for i in range(8):
        key = f"{i:064x}"
        cache.put(key, XlaFigures(i, XlaMemory(i, 2 * i, 3 * i, 0, 0)))
"""


def test_concurrent_writers_leave_valid_entries(tmp_path: Path) -> None:
    """Two processes write the same eight keys over and over while this one reads them: every
    read is a miss or the exact figures, never a torn entry, and no temporary file is left."""
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), "60"], cwd=ROOT)
        for _ in range(2)
    ]
    reads = 0
    reader = XlaCache(tmp_path)
    while any(w.poll() is None for w in writers):
        for i in range(8):
            xla_cache.forget_in_memory()
            found = reader.get(f"{i:064x}")
            assert found in (None, XlaFigures(i, XlaMemory(i, 2 * i, 3 * i, 0, 0)))
            reads += found is not None
    assert [w.wait() for w in writers] == [0, 0]
    names = sorted(p.name for p in (tmp_path / "xla").iterdir())
    assert names == [f"{i:064x}.json" for i in range(8)]
    xla_cache.forget_in_memory()
    assert [reader.get(f"{i:064x}") for i in range(8)] == [
        XlaFigures(i, XlaMemory(i, 2 * i, 3 * i, 0, 0)) for i in range(8)
    ]


def test_pruning_removes_the_least_recently_used(tmp_path: Path) -> None:
    where = tmp_path / "xla"
    where.mkdir()
    now = time.time()
    paths = []
    for i in range(8):  # entry i last used i minutes after the oldest
        path = where / f"{i:064x}.json"
        path.write_bytes(b"x" * 10_000)
        os.utime(path, (now - 600 + 60 * i, now - 600 + 60 * i))
        paths.append(path)
    stale, fresh = where / ".a.tmp", where / ".b.tmp"
    for path, age in ((stale, xla_cache.STALE_TEMP_SECONDS + 60), (fresh, 0)):
        path.write_bytes(b"partial")
        os.utime(path, (now - age, now - age))
    sizes = [max(p.stat().st_size, p.stat().st_blocks * 512) for p in paths]
    xla_cache.prune(where, sum(sizes))  # at the limit: nothing to do but the stale file
    assert all(p.exists() for p in paths) and not stale.exists() and fresh.exists()
    limit = sum(sizes) - 1  # one byte over: down to three quarters, oldest first
    xla_cache.prune(where, limit)
    kept = [p.exists() for p in paths]
    assert kept == sorted(kept)  # what is gone is older than what is kept
    removed = kept.index(True)
    assert sum(sizes[removed:]) <= limit * 3 // 4 < sum(sizes[removed - 1 :])


@pytest.mark.usefixtures("repo_root")
def test_a_planted_entry_is_read_by_another_process(cache_dir: Path) -> None:
    """The key is stable across processes (a second run reuses the first's figures) — and
    the numbers in the directory are believed, which is why README "Caching" says not to
    restore a cache from untrusted pull requests into a trusted job. The first run is this
    process (the CLI in process), the second a new one: only the second need be a process."""
    tmp_path = cache_dir
    forward = json.loads(invoke(*QUICK))["flops"]["forward"]
    assert forward == convnet_forward(4)
    planted = 0
    for path in entries(tmp_path):
        entry = json.loads(path.read_bytes())
        if entry["memory"] is not None and entry["flops"] == forward:
            entry["flops"] = 123_456_789  # the compiled forward pass's figure
            path.write_text(json.dumps(entry), encoding="utf-8")
            planted += 1
    assert planted == 1
    env = {**os.environ, "ARCHINSPECT_CACHE_DIR": str(tmp_path), "COLUMNS": "120"}
    args = [sys.executable, "-m", "archinspect", *QUICK]
    second = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert json.loads(second.stdout)["flops"]["forward"] == 123_456_789


def test_every_command_that_compiles_has_the_off_switch() -> None:
    import typer

    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    has = {name for name, c in commands.items() if any("--no-cache" in p.opts for p in c.params)}
    assert has == {"inspect", "check", "sweep", "solve", "diff"}
