"""Whole-process figures for `archinspect count` and the JAX-free commands.

Prints, for each command, the median / min / max wall time over several runs and the peak RSS
of the process, and compares against baselines measured in the same run:
  - `python -c "import jax, equinox"` (the floor for any command that builds a model);
  - pdequinox's eager path (build real weights, then count) on a model small enough to fit.

Usage: python benchmarks/bench_count.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
CLI = shutil.which("archinspect", path=str(Path(PY).parent)) or "archinspect"

PDEQ_EAGER = """
import jax, numpy as np, pdequinox as pdeq
m = pdeq.arch.ClassicUNet(3, 1, 1, hidden_channels={h}, key=jax.random.PRNGKey(0))
print(sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(m) if hasattr(x, "shape")))
"""


def run(cmd: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in MB, stdout of one run (rusage of this child only)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    return elapsed, usage.ru_maxrss // 1024, out


def measure(label: str, cmd: list[str], runs: int) -> dict:
    times, rss = [], []
    out = ""
    for _ in range(runs):
        t, r, out = run(cmd)
        times.append(t)
        rss.append(r)
    row = {
        "label": label,
        "median": statistics.median(times),
        "min": min(times),
        "max": max(times),
        "rss": max(rss),
        "out": out,
    }
    print(
        f"{label:<52} median {row['median']:6.3f} s  (min {row['min']:.3f}, "
        f"max {row['max']:.3f})  peak RSS {row['rss']:5d} MB",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-pdequinox", action="store_true")
    args = parser.parse_args()
    n = args.runs

    print(f"{n} runs each, python {sys.version.split()[0]}, {os.cpu_count()} cores\n")
    base = measure('python -c "import jax, equinox"', [PY, "-c", "import jax, equinox"], n)
    big = measure(
        "archinspect count (3-D ClassicUNet, hidden 1024)",
        [CLI, "count", "benchmarks/specs/unet3d_1024.yaml", "-f", "json"],
        n,
    )
    import json

    total = json.loads(big["out"])["params"]["total"]
    print(
        f"  -> {total:,} parameters; {big['median'] - base['median']:+.3f} s beyond the "
        f"import of jax+equinox (target <= 1.0 s), peak RSS {big['rss']} MB (target <= 450)"
    )
    assert total == 28_906_436_609, total

    print()
    light = [
        ("archinspect --help", [CLI, "--help"]),
        ("archinspect families", [CLI, "families"]),
        ("archinspect schema", [CLI, "schema"]),
        (
            "archinspect validate configs/*.yaml",
            [
                CLI,
                "validate",
                *sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("configs/*.yaml")),
            ],
        ),
    ]
    for label, cmd in light:
        measure(label, cmd, n)

    if not args.skip_pdequinox:
        print("\nsame-run comparison with pdequinox's eager path (3-D ClassicUNet, hidden 64):")
        eager = measure(
            "pdequinox: build real weights, then count",
            [PY, "-c", PDEQ_EAGER.format(h=64)],
            max(n // 2, 3),
        )
        ours = measure(
            "archinspect count --set model.hidden_channels=64",
            [
                CLI,
                "count",
                "benchmarks/specs/unet3d_1024.yaml",
                "-f",
                "json",
                "--set",
                "model.hidden_channels=64",
            ],
            max(n // 2, 3),
        )
        a, b = int(eager["out"]), json.loads(ours["out"])["params"]["total"]
        assert a == b, (a, b)
        print(
            f"  -> both count {a:,}; time ratio eager/abstract "
            f"{eager['median'] / ours['median']:.2f}x, RSS ratio "
            f"{eager['rss'] / ours['rss']:.2f}x"
        )


if __name__ == "__main__":
    main()
