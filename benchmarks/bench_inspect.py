"""Figures for `archinspect shapes` / `inspect` on the default 2-D ClassicUNet at 128×128.

Prints whole-process medians against `python -c "import jax, equinox"` (the floor), then the
in-process time of each phase of one `inspect` report: the abstract trace of the forward pass,
lowering the forward and training-step programs, compiling them (in parallel, never run), and
lowering each distinct layer once for per-layer FLOPs.

Usage: python benchmarks/bench_inspect.py [--runs N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_count import CLI, PY, measure  # noqa: E402

SPEC = "configs/unet.yaml"


def phases() -> None:
    from archinspect.analysis.flops import per_layer_flops
    from archinspect.analysis.programs import forward_program, train_step_program
    from archinspect.analysis.shapes import forward_layers
    from archinspect.build import build_abstract
    from archinspect.commands.inspect import COMPILE_OPTIONS
    from archinspect.spec import load_spec

    spec = load_spec(SPEC)
    t = [time.perf_counter()]

    def lap(label: str) -> None:
        t.append(time.perf_counter())
        print(f"  {label:<44} {t[-1] - t[-2]:6.3f} s", flush=True)

    model = build_abstract(spec)
    lap("build (filter_eval_shape)")
    out, rows, calls = forward_layers(model, spec.input_shape, spec.input.dtype)
    lap(f"trace forward, record {len(rows)} module calls")
    batch = (1, *spec.input_shape)
    fwd = forward_program(model, batch, "float32")
    lap("lower forward")
    train = train_step_program(model, batch, (1, *out), "float32")
    lap("lower training step")
    fwd.compile(COMPILE_OPTIONS)
    lap("compile forward (sequential here)")
    train.compile(COMPILE_OPTIONS)
    lap("compile training step (sequential here)")
    per_layer_flops(model, calls, "float32")
    lap("lower distinct layers for per-layer FLOPs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    n = parser.parse_args().runs
    base = measure('python -c "import jax, equinox"', [PY, "-c", "import jax, equinox"], n)
    shp = measure(f"archinspect shapes {SPEC}", [CLI, "shapes", SPEC, "-f", "json"], n)
    ins = measure(f"archinspect inspect {SPEC}", [CLI, "inspect", SPEC, "-f", "json"], n)
    for row in (shp, ins):
        print(f"  -> {row['label']}: {row['median'] - base['median']:+.3f} s beyond the import")
    print("\nphases of one inspect report (in-process):")
    start = time.perf_counter()
    phases()
    print(f"  {'total':<44} {time.perf_counter() - start:6.3f} s")


if __name__ == "__main__":
    main()
