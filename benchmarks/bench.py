"""`make bench`: one Markdown table of whole-process figures, measured in one run on one machine.

Every figure is a separate child process timed from the outside (wall clock of the process,
peak RSS from the kernel's rusage of that child), so what a user waits for is what is measured:
Python start-up, imports, the build and the analysis. Rows, all against the import floor
`python -c "import jax, equinox"` measured in the same rounds:

  - `archinspect --help` (no JAX import);
  - `archinspect count --no-rf` of the 3-D ClassicUNet at each --hidden width, and pdequinox's
    eager path (build real weights, then count) at the same width where its weights fit: the
    estimate 4 bytes x parameters against --eager-limit, "does not fit" above it; then
    `archinspect count` as a user runs it, with its default receptive field, at the widest;
  - `archinspect sweep` over --sweep widths against one process looping pdequinox's eager
    builds over the same widths;
  - `archinspect rf` (structural) of the 2-D ClassicUNet (configs/unet.yaml) and of the 3-D
    ClassicUNet;
  - `archinspect inspect configs/unet.yaml`.

Rounds alternate the commands (round r runs every command once), so a load that changes during
the run weighs on every row alike; the table gives the median of --runs rounds.

Usage: python benchmarks/bench.py [--runs N] [--quick] [--plot FILE] [--eager-limit BYTES]
Environment: BENCH_RUNS=N and BENCH_QUICK=1 do what --runs and --quick do.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
CLI = shutil.which("archinspect", path=str(Path(PY).parent)) or "archinspect"
UNET2D = "configs/unet.yaml"
UNET3D = "benchmarks/specs/unet3d_1024.yaml"  # 3-D ClassicUNet, 64^3; --set picks the width
BYTES_PER_PARAM = 4  # float32 weights: the eager path's estimate before it is run

# pdequinox's eager path: real weights drawn for each width, then counted; prints "width count".
# Arguments: num_levels, then the widths.
EAGER = """
import sys, jax, numpy as np, pdequinox as pdeq
levels = int(sys.argv[1])
for h in map(int, sys.argv[2:]):
    key = jax.random.PRNGKey(0)
    m = pdeq.arch.ClassicUNet(3, 1, 1, hidden_channels=h, num_levels=levels, key=key)
    leaves = jax.tree_util.tree_leaves(m)
    print(h, sum(int(np.prod(x.shape)) for x in leaves if hasattr(x, "shape")))
"""

# Columns of the table, declared once; the test parses them by these names.
COLUMNS = (
    "case",
    "parameters",
    "median s",
    "min s",
    "max s",
    "x floor",
    "beyond floor s",
    "peak RSS MB",
    "eager / archinspect",
)
NUMERIC = COLUMNS[1:]
NOT_APPLICABLE = "-"


@dataclass(frozen=True)
class Setting:
    """What one bench run measures: the full setting, or the tiny one a test runs."""

    runs: int
    hidden: tuple[int, ...]
    sweep: tuple[int, ...]
    rf2d: int
    rf3d: int
    inspect_sets: tuple[str, ...] = ()
    sweep_resolution: int = 16  # the sweep's rows trace the RF too: the smallest valid grid
    levels: int = 4  # num_levels of every 3-D ClassicUNet (4: the family's default)


FULL = Setting(
    runs=3,
    hidden=(16, 64, 256, 1024),
    sweep=(4, 8, 12, 16, 20, 24, 28, 32, 36, 40),
    rf2d=128,
    rf3d=64,
)
QUICK = Setting(
    runs=1,
    hidden=(2, 4),
    sweep=(1, 2, 3),
    rf2d=16,
    rf3d=16,
    levels=1,
    # One level: the test runs the row, not the figure; compiling the four-level UNet's
    # training step took 40 s of the test's 113 s on the shared machine.
    inspect_sets=(
        "--set",
        "input.resolution=16",
        "--set",
        "model.hidden_channels=2",
        "--set",
        "model.num_levels=1",
    ),
)


@dataclass
class Case:
    """One row: a command run once per round, or a reason it is not run."""

    label: str
    cmd: list[str]
    params: int | None = None
    skipped: str | None = None  # "does not fit (...)": the command is never started
    eager_of: str | None = None  # label of the archinspect row this eager row compares with
    biggest: int | None = None  # the largest model's parameters (the eager path's peak)
    per_width: dict[int, int] = field(default_factory=dict)  # sweep and eager rows
    times: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    out: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def run_once(cmd: list[str], timeout: float) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of one child process (its own rusage only)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        finally:
            timer.cancel()
        elapsed = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode(errors="replace")
    if proc.returncode != 0:
        why = f"killed after {timeout:.0f} s" if elapsed >= timeout else f"exit {proc.returncode}"
        tail = "\n".join(stderr.strip().splitlines()[-3:])
        raise SystemExit(f"bench: command failed ({why}): {' '.join(cmd)}\n{tail}")
    return elapsed, usage.ru_maxrss / 1024, stdout


def parse_bytes(text: str) -> int:
    """'11G', '512Mi', '2000000' -> bytes (decimal K/M/G/T, binary Ki/Mi/Gi/Ti)."""
    units = {"K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    units |= {k + "i": 2 ** (10 * (i + 1)) for i, k in enumerate("KMGT")}
    for suffix in sorted(units, key=len, reverse=True):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * units[suffix])
    return int(text)


def meminfo_bytes(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise SystemExit(f"bench: no {key} in /proc/meminfo")


def machine(load_at_start: str) -> str:
    """CPU model, cores and RAM from /proc, and the load average when the run started and ended."""
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    ram = meminfo_bytes("MemTotal") / 2**30
    load = f"load {load_at_start} at start, {load_average()} at end"
    return f"{cpu}, {os.cpu_count()} cores, {ram:.1f} GiB RAM ({load})"


def load_average() -> str:
    """The 1-minute load average: above the core count, the machine was shared."""
    return Path("/proc/loadavg").read_text().split()[0]


def versions() -> str:
    def v(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "absent"

    names = ("jax", "jaxlib", "equinox", "archinspect", "pdequinox")
    return f"python {platform.python_version()}, " + ", ".join(f"{n} {v(n)}" for n in names)


def human(n: float) -> str:
    """Bytes in decimal units, one decimal: '23.3 KB', '7.2 GB'."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def cases(s: Setting) -> list[Case]:
    """The rows in table order, each eager row after the archinspect row it is compared with."""
    unet3d = f"3-D ClassicUNet{'' if s.levels == 4 else f' ({s.levels} levels)'}"
    levels = ["--set", f"model.num_levels={s.levels}"]
    rows = [
        Case('floor: python -c "import jax, equinox"', [PY, "-c", "import jax, equinox"]),
        Case("archinspect --help", [CLI, "--help"]),
    ]
    # Counting against counting: pdequinox's eager path has no receptive field to compare.
    for h in s.hidden:
        ours = f"archinspect count --no-rf, {unet3d} hidden {h}"
        width = ["--set", f"model.hidden_channels={h}"]
        rows.append(Case(ours, [CLI, "count", UNET3D, "-f", "json", "--no-rf", *levels, *width]))
        eager = [PY, "-c", EAGER, str(s.levels), str(h)]
        rows.append(Case(f"pdequinox eager build + count, hidden {h}", eager, eager_of=ours))
    widest = ["--set", f"model.hidden_channels={max(s.hidden)}"]
    label = f"archinspect count (receptive field by default), {unet3d} hidden {max(s.hidden)}"
    rows.append(Case(label, [CLI, "count", UNET3D, "-f", "json", *levels, *widest]))
    widths = ",".join(map(str, s.sweep))
    ours = f"archinspect sweep, {unet3d} at {s.sweep_resolution}^3, {len(s.sweep)} widths {widths}"
    grid = ["--set", f"input.resolution={s.sweep_resolution}"]
    sweep = [CLI, "sweep", UNET3D, "-p", "hidden_channels", "--values", widths, "-f", "json"]
    rows.append(Case(ours, [*sweep, *levels, *grid]))
    eager = [PY, "-c", EAGER, str(s.levels), *map(str, s.sweep)]
    rows.append(Case("pdequinox eager builds, loop over the same widths", eager, eager_of=ours))
    rf2 = ["--set", f"input.resolution={s.rf2d}"]
    rows.append(
        Case(f"archinspect rf, 2-D ClassicUNet {s.rf2d}^2", [CLI, "rf", UNET2D, "-f", "json", *rf2])
    )
    rf3 = ["--set", "model.hidden_channels=16", "--set", f"input.resolution={s.rf3d}", *levels]
    rows.append(
        Case(f"archinspect rf, {unet3d} {s.rf3d}^3", [CLI, "rf", UNET3D, "-f", "json", *rf3])
    )
    label = " ".join(["archinspect inspect", UNET2D, *s.inspect_sets[1::2]])
    # --no-cache: every round compiles, as a first run does (README "Caching"); a second run
    # would read the figures the first one kept.
    inspect = [CLI, "inspect", UNET2D, "-f", "json", "--no-cache", *s.inspect_sets]
    rows.append(Case(label, inspect))
    return rows


def record_params(c: Case) -> None:
    """Read the parameter counts from a row's output (JSON of archinspect, "width count" lines of
    the eager script)."""
    if c.cmd[:2] == [CLI, "count"]:
        c.params = c.biggest = json.loads(c.out)["params"]["total"]
        return
    if c.cmd[:2] == [CLI, "sweep"]:
        c.per_width = {r["hidden_channels"]: r["params"] for r in json.loads(c.out)["rows"]}
    elif c.eager_of is not None:
        c.per_width = {int(w): int(n) for w, n in (line.split() for line in c.out.splitlines())}
    else:
        return
    c.params, c.biggest = sum(c.per_width.values()), max(c.per_width.values())


def check_agreement(rows: list[Case]) -> None:
    """An eager row must count what its archinspect row counts, width by width."""
    by_label = {c.label: c for c in rows}
    for c in rows:
        if c.eager_of is None or not c.times:
            continue
        ours = by_label[c.eager_of]
        if c.params != ours.params or (ours.per_width and c.per_width != ours.per_width):
            raise SystemExit(
                f"bench: counts disagree: {ours.label} {ours.params:,} {ours.per_width}, "
                f"{c.label} {c.params:,} {c.per_width}"
            )


def measure(rows: list[Case], runs: int, eager_limit: int, timeout: float) -> None:
    """Round r runs every row once, in table order. In the first round an eager row is started
    only if its largest model's weights (4 bytes x the parameters archinspect just counted) fit
    in eager_limit."""
    by_label = {c.label: c for c in rows}
    for r in range(runs):
        for c in rows:
            if r == 0 and c.eager_of is not None:
                need = BYTES_PER_PARAM * (by_label[c.eager_of].biggest or 0)
                if need > eager_limit:
                    c.skipped = f"does not fit ({human(need)} > {human(eager_limit)})"
                    c.params = by_label[c.eager_of].params
            if c.skipped:
                continue
            t, rss, c.out = run_once(c.cmd, timeout)
            c.times.append(t)
            c.rss_mb.append(rss)
            if r == 0:
                record_params(c)
            print(
                f"[bench] round {r + 1}/{runs} {c.label}: {t:.2f} s, {rss:.0f} MB",
                file=sys.stderr,
                flush=True,
            )
    check_agreement(rows)


def table(rows: list[Case], runs: int, eager_limit: int, load_at_start: str) -> str:
    floor = rows[0]
    by_label = {c.label: c for c in rows}
    lines = [
        f"Machine: {machine(load_at_start)}.  ",
        f"Versions: {versions()}.  ",
        f"Wall time: median of {runs} round(s), whole processes, the floor measured in the same "
        f"rounds; peak RSS: the child's rusage. Eager builds run only where 4 bytes x parameters "
        f"<= {human(eager_limit)}.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|---|" + "---:|" * (len(COLUMNS) - 1),
    ]
    for c in rows:
        params = f"{c.params:,}" if c.params is not None else NOT_APPLICABLE
        if c.skipped:
            cells = [c.label, params, c.skipped] + [NOT_APPLICABLE] * (len(COLUMNS) - 3)
        else:
            med = c.median
            ratio = NOT_APPLICABLE
            if c.eager_of is not None:
                ratio = f"{med / by_label[c.eager_of].median:.2f}"
            cells = [
                c.label,
                params,
                f"{med:.2f}",
                f"{min(c.times):.2f}",
                f"{max(c.times):.2f}",
                f"{med / floor.median:.2f}",
                f"{med - floor.median:+.2f}",
                f"{max(c.rss_mb):.0f}",
                ratio,
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(rows: list[Case], path: str) -> None:
    """Wall time against parameter count, log-log: archinspect count vs pdequinox's eager build,
    the floor as a line, eager builds that do not fit marked at the count's parameters."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_label = {c.label: c for c in rows}
    ours = [c for c in rows if c.cmd[:2] == [CLI, "count"] and "--no-rf" in c.cmd]
    eager = [c for c in rows if c.eager_of in {o.label for o in ours}]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(
        [c.params for c in ours], [c.median for c in ours], "o-", label="archinspect count --no-rf"
    )
    ran = [c for c in eager if c.times]
    ax.plot(
        [c.params for c in ran], [c.median for c in ran], "s--", label="pdequinox eager + count"
    )
    for c in eager:
        if c.skipped:
            x, y = by_label[c.eager_of or ""].params, by_label[c.eager_of or ""].median
            ax.annotate(
                "eager:\ndoes not fit",
                (x, y),
                (0, 12),
                textcoords="offset points",
                ha="center",
                fontsize=7,
            )
    ax.axhline(rows[0].median, color="grey", lw=0.8, ls=":", label="floor: import jax, equinox")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("parameters (3-D ClassicUNet)")
    ax.set_ylabel("wall time of the whole process (s)")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", lw=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def compile_sources() -> None:
    """Write archinspect's bytecode before any row is timed. Python only reads .pyc files that
    exist; a shell with PYTHONDONTWRITEBYTECODE set never writes them on import, so without
    this every run would compile the package's sources again and count it as the command's."""
    import compileall

    compileall.compile_dir(str(ROOT / "archinspect"), quiet=1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=None, help="rounds (env BENCH_RUNS)")
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("BENCH_QUICK", "") not in ("", "0"),
        help="the tiny setting: one round, small widths and grids (env BENCH_QUICK=1)",
    )
    parser.add_argument(
        "--eager-limit",
        default=None,
        help="largest estimated eager build (bytes, e.g. 8G); default half of MemTotal",
    )
    parser.add_argument("--plot", metavar="FILE", help="draw time against parameters to FILE")
    parser.add_argument("-o", "--output", metavar="FILE", help="also write the table to FILE")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per command")
    args = parser.parse_args(argv)
    setting = QUICK if args.quick else FULL
    runs = args.runs or int(os.environ.get("BENCH_RUNS", 0)) or setting.runs
    if runs < 1:
        parser.error(f"--runs must be at least 1, got {runs}")
    limit = parse_bytes(args.eager_limit) if args.eager_limit else meminfo_bytes("MemTotal") // 2
    rows = cases(setting)
    compile_sources()
    load = load_average()
    measure(rows, runs, limit, args.timeout)
    text = table(rows, runs, limit, load)
    sys.stdout.write(text)
    if args.output:
        Path(args.output).write_text(text)
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
