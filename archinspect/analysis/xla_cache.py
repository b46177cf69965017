"""A persistent cache of the numbers archinspect reads from XLA programs (README "Caching").

What is kept is numbers only: the FLOPs of XLA's cost analysis and the fields of its memory
analysis, as a small JSON file per program. Never an executable: archinspect also runs
programs (empirical receptive field, init, equivariance), and a cache directory that a CI job
restores from another pull request could then run code that pull request planted. A planted
or damaged entry can at worst give wrong numbers, so every entry is validated on read and
anything unexpected is ignored and computed again.

The key is exact: the sha256 of the lowered module (its MLIR bytecode, which serialises every
operation, shape and attribute; source locations left out), with the compile options, the
XLA_FLAGS environment variable, the jax and jaxlib versions, the backend (platform, version,
device kind), the host CPU and this file's FORMAT. Two programs that could compile
differently never share a key.

Figures are also kept in memory for the rest of the process (sweep rows, the specs of a
`check`, per-layer programs of the same shape), unless the cache is off (`--no-cache`,
ARCHINSPECT_NO_CACHE=1), in which case every program is compiled again.

This module imports no JAX when loaded (the CLI sets it up for every command).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import platform as host
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archinspect.errors import UsageError
from archinspect.report import XlaMemory

# Bump when what an entry means or holds changes: older entries then simply miss.
FORMAT = 1
# The directory is pruned, oldest entries first, when it holds more than this.
MAX_BYTES = 64 * 1024 * 1024
# An entry is a few hundred bytes; anything larger is not one of ours and is not parsed.
MAX_ENTRY_BYTES = 4096
# Figures kept in memory in one process.
MAX_IN_MEMORY = 4096
# A temporary file older than this was left by a run that was killed while writing.
STALE_TEMP_SECONDS = 3600

_MEMORY_FIELDS = tuple(XlaMemory.__dataclass_fields__)
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


@dataclass(frozen=True)
class XlaFigures:
    """What archinspect reads from one program: XLA's FLOPs, and its memory analysis (a
    compiled program's; None for a lowered one, or when the backend gives none)."""

    flops: int
    memory: XlaMemory | None = None


_IN_MEMORY: dict[str, XlaFigures] = {}
_PRUNED: set[str] = set()  # directories pruned by this process (once each)
_LOCK = threading.Lock()
# Programs being compiled in this process, by key: set when that compile has ended. `check`
# compiles one spec while lowering the next, so two identical programs can be in flight at
# once; the second waits for the first's figures instead of compiling them again.
_COMPILING: dict[str, threading.Event] = {}


def _is_count(value: Any) -> bool:
    return type(value) is int and 0 <= value < 2**63


def _decode(text: bytes, key: str) -> XlaFigures | None:
    """The figures of an entry, or None for anything that is not exactly a valid entry."""
    try:
        entry = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(entry, dict) or set(entry) != {"format", "key", "flops", "memory"}:
        return None
    if entry["format"] != FORMAT or entry["key"] != key or not _is_count(entry["flops"]):
        return None
    memory = entry["memory"]
    if memory is None:
        return XlaFigures(entry["flops"])
    if not isinstance(memory, dict) or set(memory) != set(_MEMORY_FIELDS):
        return None
    if not all(_is_count(v) for v in memory.values()):
        return None
    return XlaFigures(entry["flops"], XlaMemory(**memory))


def _encode(figures: XlaFigures, key: str) -> bytes:
    memory = None
    if figures.memory is not None:
        memory = {name: getattr(figures.memory, name) for name in _MEMORY_FIELDS}
    entry = {"format": FORMAT, "key": key, "flops": figures.flops, "memory": memory}
    return json.dumps(entry, sort_keys=True).encode()


def default_directory(env: Mapping[str, str]) -> Path:
    """$ARCHINSPECT_CACHE_DIR, else $XDG_CACHE_HOME/archinspect, else ~/.cache/archinspect
    (a relative XDG_CACHE_HOME is ignored, as the XDG base-directory rules say)."""
    explicit = env.get("ARCHINSPECT_CACHE_DIR", "")
    if explicit:
        return Path(explicit).expanduser()
    xdg = env.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "archinspect"
    return Path.home() / ".cache" / "archinspect"


def _switched_off(env: Mapping[str, str]) -> bool:
    value = env.get("ARCHINSPECT_NO_CACHE", "")
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise UsageError(
        f"error: ARCHINSPECT_NO_CACHE must be 1, true, yes or on (no cache) or 0, false, no, "
        f"off or empty (cache), got {value!r}"
    )


@dataclass
class XlaCache:
    """Where figures are kept (`directory`, None: memory only) and whether they are reused at
    all (`enabled`). `notes` says what went wrong with the directory (shown under --debug)."""

    directory: Path | None
    enabled: bool = True
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None, *, off: bool = False):
        env = os.environ if env is None else env
        if off or _switched_off(env):
            return cls(None, enabled=False)
        try:
            directory = default_directory(env)
        except RuntimeError as exc:  # no home directory to put ~/.cache in
            return cls(None, notes=[f"xla cache: no directory ({exc}); not kept across runs"])
        return cls(directory)

    # -- keys ---------------------------------------------------------------------------

    def key(self, lowered: Any, kind: str, options: Mapping[str, Any] | None = None) -> str:
        """The exact key of one lowered program: call it where the program was lowered (it
        reads the default device, which `jax.default_device` sets per thread)."""
        import jax
        import jaxlib

        config: Any = jax.config  # its flags are attributes made at run time
        device = config.jax_default_device or jax.devices()[0]
        if isinstance(device, str):  # a platform name is accepted there too
            device = jax.devices(device)[0]
        parts = {
            "format": FORMAT,
            "kind": kind,
            "module": _module_digest(lowered),
            "options": sorted((str(k), repr(v)) for k, v in (options or {}).items()),
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "jax": jax.__version__,
            "jaxlib": jaxlib.__version__,
            "platform": device.platform,
            "platform_version": device.client.platform_version,
            "device_kind": device.device_kind,
            "host": _host(),
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    # -- reading and writing --------------------------------------------------------------

    def _path(self, key: str) -> Path | None:
        return None if self.directory is None else self.directory / "xla" / f"{key}.json"

    def get(self, key: str) -> XlaFigures | None:
        if not self.enabled:
            return None
        found = _IN_MEMORY.get(key)
        if found is not None:
            return found
        path = self._path(key)
        if path is None:
            return None
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return None  # not there (or not readable): a miss
        try:
            with os.fdopen(fd, "rb") as f:
                text = f.read(MAX_ENTRY_BYTES + 1)
        except OSError:
            return None
        figures = _decode(text, key) if len(text) <= MAX_ENTRY_BYTES else None
        if figures is not None:
            self._remember(key, figures)
            with contextlib.suppress(OSError):
                os.utime(path)  # recently used: pruned last
        return figures

    def put(self, key: str, figures: XlaFigures) -> None:
        if not self.enabled:
            return
        self._remember(key, figures)
        path = self._path(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".tmp", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(_encode(figures, key))
                os.replace(temp, path)  # atomic: a reader sees the old entry or the new one
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError as exc:
            self._note(
                f"xla cache: cannot write {path.parent}: {exc.strerror or exc}; "
                "figures are not kept across runs"
            )
            return
        self._prune_once(path.parent)

    def _remember(self, key: str, figures: XlaFigures) -> None:
        with _LOCK:
            if key not in _IN_MEMORY and len(_IN_MEMORY) >= MAX_IN_MEMORY:
                _IN_MEMORY.pop(next(iter(_IN_MEMORY)))
            _IN_MEMORY[key] = figures

    def _note(self, note: str) -> None:
        if note not in self.notes:
            self.notes.append(note)

    def _prune_once(self, directory: Path) -> None:
        with _LOCK:
            if str(directory) in _PRUNED:
                return
            _PRUNED.add(str(directory))
        prune(directory, MAX_BYTES)

    # -- the two kinds of figures ---------------------------------------------------------

    def compiled(self, lowered: Any, options: Mapping[str, Any]) -> Callable[[], XlaFigures]:
        """A job giving the compiled program's figures: at once when cached, else compiling
        (run it in a thread: XLA releases the GIL). Keyed here, in the lowering thread."""
        key = self._key_or_none(lowered, "compiled", options)
        hit = None if key is None else self.get(key)
        if hit is not None:
            return lambda: hit

        def job() -> XlaFigures:
            from archinspect.analysis.memory import xla_memory
            from archinspect.analysis.programs import xla_flops

            ended = None if key is None else self._own(key)
            if isinstance(ended, XlaFigures):
                return ended
            try:
                compiled = lowered.compile(dict(options))
                figures = XlaFigures(xla_flops(compiled.cost_analysis()), xla_memory(compiled))
                if key is not None:
                    self.put(key, figures)
                return figures
            finally:
                if key is not None and ended is not None:
                    with _LOCK:
                        _COMPILING.pop(key, None)
                    ended.set()

        return job

    def _own(self, key: str) -> XlaFigures | threading.Event:
        """The figures, once the same program compiling in another thread has ended; else the
        event this thread sets when its own compile ends (it compiles: nobody else is, or
        the other compile failed and this one meets the failure itself)."""
        while True:
            hit = self.get(key)
            if hit is not None:
                return hit
            with _LOCK:
                other = _COMPILING.get(key)
                if other is None:
                    mine = _COMPILING[key] = threading.Event()
                    return mine
            other.wait()

    def lowered_flops(self, lowered: Any) -> int:
        """XLA's FLOPs of the unoptimised (lowered, not compiled) program."""
        from archinspect.analysis.programs import xla_flops

        key = self._key_or_none(lowered, "lowered")
        hit = None if key is None else self.get(key)
        if hit is not None:
            return hit.flops
        flops = xla_flops(lowered.cost_analysis())
        if key is not None:
            self.put(key, XlaFigures(flops))
        return flops

    def _key_or_none(
        self, lowered: Any, kind: str, options: Mapping[str, Any] | None = None
    ) -> str | None:
        """The key, or None when the cache is off or the program has no key (the cache must
        never fail a run: the program is then analysed as without a cache)."""
        if not self.enabled:
            return None
        try:
            return self.key(lowered, kind, options)
        except Exception as exc:
            self._note(f"xla cache: no key for a {kind} program ({type(exc).__name__}: {exc})")
            return None


def _module_digest(lowered: Any) -> str:
    """sha256 of the lowered module without its source locations, as MLIR bytecode: exact
    (bytecode serialises every operation, type and attribute) and three times cheaper than
    the module's text (`Lowered.as_text()`, 16 ms against 50 ms for the training step of
    configs/unet.yaml). Locations name the caller's file and line: kept, the same program
    reached from two places would miss; they do not change what XLA compiles."""
    import io

    try:
        from jaxlib.mlir import passmanager

        module = lowered.compiler_ir("stablehlo")
        with module.context:
            stripped = module.operation.clone()
            passmanager.PassManager.parse("builtin.module(strip-debuginfo)").run(stripped)
            buffer = io.BytesIO()
            stripped.write_bytecode(file=buffer)
        return "bytecode:" + hashlib.sha256(buffer.getvalue()).hexdigest()
    except (ImportError, AttributeError):  # an MLIR binding without them: the text
        return "text:" + hashlib.sha256(lowered.as_text().encode()).hexdigest()


_HOST: str | None = None


def _host() -> str:
    """The machine the CPU backend compiles for: its architecture and CPU feature flags
    (code generation follows them)."""
    global _HOST
    if _HOST is None:
        flags = ""
        with contextlib.suppress(OSError):
            with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
                flags = next((line for line in f if line.startswith(("flags", "Features"))), "")
        _HOST = f"{host.machine()} {hashlib.sha256(flags.encode()).hexdigest()[:16]}"
    return _HOST


def prune(directory: Path, limit: int) -> None:
    """Keep `directory` under `limit` bytes on disk: remove the least recently used entries
    (hits refresh an entry's time) down to three quarters of it, and temporary files left by
    killed runs. Safe alongside other processes: a file already gone is skipped."""
    now = time.time()
    entries = []
    total = 0
    try:
        scan = list(os.scandir(directory))
    except OSError:
        return
    for item in scan:
        try:
            st = item.stat(follow_symlinks=False)
        except OSError:
            continue
        if item.name.endswith(".tmp"):
            if now - st.st_mtime > STALE_TEMP_SECONDS:
                with contextlib.suppress(OSError):
                    os.unlink(item.path)
            continue
        if item.name.endswith(".json"):
            size = max(st.st_size, getattr(st, "st_blocks", 0) * 512)
            entries.append((st.st_mtime, size, item.path))
            total += size
    if total <= limit:
        return
    for _, size, path in sorted(entries):
        if total <= limit * 3 // 4:
            break
        with contextlib.suppress(OSError):
            os.unlink(path)
        total -= size


_ACTIVE: contextvars.ContextVar[XlaCache | None] = contextvars.ContextVar(
    "archinspect_xla_cache", default=None
)


def current() -> XlaCache:
    """The cache of the running command (`using`), else one set up from the environment."""
    active = _ACTIVE.get()
    return active if active is not None else XlaCache.from_environment()


@contextlib.contextmanager
def using(cache: XlaCache) -> Iterator[XlaCache]:
    """Make `cache` the one `current()` gives while active (the CLI: `--no-cache`)."""
    token = _ACTIVE.set(cache)
    try:
        yield cache
    finally:
        _ACTIVE.reset(token)


def forget_in_memory() -> None:
    """Drop the figures kept in this process (tests compare a cold and a warm run)."""
    with _LOCK:
        _IN_MEMORY.clear()
        _PRUNED.clear()
