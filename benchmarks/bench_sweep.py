"""Figures for `archinspect sweep`: 10 widths of a 2-D ConvNet, and a grid of 100 configs.

Whole-process medians against `python -c "import jax, equinox"` in the same run. Targets: the
10-width sweep within 3 s beyond the import; the 100-config grid within a minute. Sweeps trace
abstractly and compile nothing (no --metrics flops/memory here).

Usage: python benchmarks/bench_sweep.py [--runs N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_count import CLI, PY, measure  # noqa: E402

CONVNET_2D = [
    "configs/convnet.yaml",
    "--set",
    "model.num_spatial_dims=2",
    "--set",
    "input.resolution=64",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    n = parser.parse_args().runs
    base = measure('python -c "import jax, equinox"', [PY, "-c", "import jax, equinox"], n)
    widths = measure(
        "sweep: 10 widths of a 2-D ConvNet",
        [
            CLI,
            "sweep",
            *CONVNET_2D,
            "--param",
            "hidden_channels",
            "--values",
            "1,2,4,8,16,32,64,128,256,512",
            "-f",
            "json",
        ],
        n,
    )
    grid = measure(
        "sweep: grid of 100 configs (10 widths x 10 depths)",
        [
            CLI,
            "sweep",
            *CONVNET_2D,
            "--param",
            "hidden_channels",
            "--values",
            "1,2,4,8,16,32,64,128,256,512",
            "--param",
            "depth",
            "--values",
            "1,2,3,4,5,6,7,8,9,10",
            "-f",
            "json",
        ],
        max(1, n // 2),
    )
    print(
        f"  -> 10 widths: {widths['median'] - base['median']:+.3f} s beyond the import "
        "(target <= 3 s)"
    )
    print(f"  -> 100 configs: {grid['median']:.3f} s in all (target <= 60 s)")


if __name__ == "__main__":
    main()
