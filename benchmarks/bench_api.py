"""Python API figures (README "Python API"): `archinspect.count` on an abstract 29-billion-
parameter model, and `archinspect.receptive_field` on a live model against the CLI's use case.

Prints, in one process after `import archinspect` and JAX:
  - `archinspect.count(model)` on the abstract 3-D ClassicUNet with hidden_channels=1024 of
    benchmarks/specs/unet3d_1024.yaml (28,906,436,609 parameters): the first call (which
    imports the API's modules) and the median of --runs;
  - `archinspect.receptive_field(model, x)` on configs/unet.yaml's model against
    `commands.rf.rf_report(spec, model=model)` (what `archinspect rf` runs once the spec is
    built), alternating, median of --runs each; both analyses are the same structural one.

Usage: python benchmarks/bench_api.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(call) -> tuple[float, object]:
    start = time.perf_counter()
    out = call()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    import jax

    import archinspect
    from archinspect.build import build_abstract
    from archinspect.commands.rf import rf_report
    from archinspect.spec import load_spec

    big = build_abstract(load_spec(str(ROOT / "benchmarks" / "specs" / "unet3d_1024.yaml"), []))
    first, report = timed(lambda: archinspect.count(big))
    times = [timed(lambda: archinspect.count(big))[0] for _ in range(args.runs)]
    print(f"archinspect.count, 3-D ClassicUNet hidden 1024: {report.params.total:,} parameters")
    median = statistics.median(times) * 1e3
    print(f"  first call {first * 1e3:.1f} ms; median of {args.runs} {median:.1f} ms")

    spec = load_spec(str(ROOT / "configs" / "unet.yaml"), [])
    model = build_abstract(spec)
    x = jax.ShapeDtypeStruct(spec.input_shape, spec.input.dtype)
    archinspect.receptive_field(model, x)  # warm JAX's tracing machinery for both
    api, cli = [], []
    for _ in range(args.runs):
        t, a = timed(lambda: archinspect.receptive_field(model, x))
        api.append(t)
        t, c = timed(lambda: rf_report(spec, model=model))
        cli.append(t)
    assert a.result == c.result  # type: ignore[attr-defined]
    print("receptive field, configs/unet.yaml (structural), median of", args.runs)
    print(f"  archinspect.receptive_field(model, x): {statistics.median(api):.3f} s")
    print(f"  rf_report(spec, model=model) (the CLI's use case): {statistics.median(cli):.3f} s")


if __name__ == "__main__":
    main()
