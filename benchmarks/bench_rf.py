"""Receptive-field figures: the structural and the empirical method on the demo 2-D ClassicUNet.

Prints, for configs/unet.yaml (ClassicUNet, 2-D, 128x128, hidden_channels=16, 4 levels), the
exact receptive field per axis with its per-position range, the input size each method analysed,
and the wall time: the structural method cold (first call in the process, JAX's tracing
machinery warming up) and warm (median of --runs), then the empirical method once (float64
gradients of the positive linear copy, one axis at a time; its start size comes from the
structural result, which saves compilations but not work). pdequinox's analytic figure for the
same network is printed for comparison.

Usage: python benchmarks/bench_rf.py [--runs N] [--spec configs/unet.yaml] [--no-empirical]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def fmt(pairs) -> str:
    return ", ".join(f"({b}, {f})" for b, f in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--spec", default=str(ROOT / "configs" / "unet.yaml"))
    parser.add_argument("--no-empirical", action="store_true")
    args = parser.parse_args()

    from archinspect.analysis.receptive_field import receptive_field, search_start
    from archinspect.analysis.receptive_field.empirical import empirical_receptive_field
    from archinspect.build import build_abstract
    from archinspect.spec import load_spec

    spec = load_spec(args.spec)
    model = build_abstract(spec)
    shape = spec.input_shape
    print(f"{spec.name}: {spec.family}, input {shape}, {os.cpu_count()} CPU cores")

    start = time.perf_counter()
    result = receptive_field(model, shape)
    cold = time.perf_counter() - start
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        receptive_field(model, shape)
        times.append(time.perf_counter() - start)
    print(
        f"structural: per axis {fmt(result.per_axis)}; per position "
        f"{fmt(result.position_range[0])} on axis 0; period {result.period}"
    )
    print(
        f"  analysed at {result.analysed_shape}; {len(result.global_via)} global sources "
        f"({result.global_via[0].describe() if result.global_via else 'none'}, ...)"
    )
    print(
        f"  wall time: cold {cold:.2f} s, warm median {statistics.median(times):.2f} s "
        f"(min {min(times):.2f}, max {max(times):.2f}, {args.runs} runs)"
    )

    if spec.family in ("ClassicUNet", "ModernUNet"):
        try:
            import equinox as eqx
            import jax
            import pdequinox

            from archinspect.activations import activation

            cls = getattr(pdequinox.arch, spec.family)
            kwargs = {**spec.args, "activation": activation(spec.args["activation"])}
            pdeq = eqx.filter_eval_shape(lambda: cls(**kwargs, key=jax.random.PRNGKey(0)))
            print(f"pdequinox's analytic receptive_field: {fmt(pdeq.receptive_field)}")
        except Exception as exc:  # pdequinox is an optional, test-only dependency
            print(f"pdequinox's figure unavailable ({type(exc).__name__})")

    if not args.no_empirical:
        start = time.perf_counter()
        empirical = empirical_receptive_field(model, shape, start=search_start(result, shape))
        elapsed = time.perf_counter() - start
        same = (empirical.per_axis, empirical.position_range) == (
            result.per_axis,
            result.position_range,
        )
        print(
            f"empirical: per axis {fmt(empirical.per_axis)}; analysed at "
            f"{empirical.analysed_shape} (one axis at a time); wall time {elapsed:.1f} s; "
            f"{'agrees' if same else 'DISAGREES'} with the structural method"
        )


if __name__ == "__main__":
    main()
