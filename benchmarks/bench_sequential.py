"""Sequential figures: shapes, counts and the structural receptive field of a 50-layer 1-D
stack at length 4096, timed beyond JAX's import (`import jax, equinox` is the baseline).

The stack cycles through conv knobs (SAME, CAUSAL with dilation, CIRCULAR, REFLECT, explicit
pairs, groups), activations and residuals, 16 channels, so every padding path of
archinspect/layers/stack.py is traced. Prints the seconds of each step, cold (first call in
the process), and their total.

Usage: python benchmarks/bench_sequential.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CYCLE = [
    "conv: {out_channels: 16, kernel_size: 3}",
    "relu",
    "conv: {out_channels: 16, kernel_size: 3, padding: CAUSAL, kernel_dilation: 2}",
    "conv: {out_channels: 16, kernel_size: 5, padding: CIRCULAR, groups: 4}",
    "gelu",
    "conv: {out_channels: 16, kernel_size: 4, padding: REFLECT}",
    "conv: {out_channels: 16, kernel_size: 3, padding: [[1, 1]]}",
    "residual: [{conv: {out_channels: 16, kernel_size: 3}}, relu]",
    "layer_norm",
    "tanh",
]


def spec_text(depth: int = 50, length: int = 4096) -> str:
    layers = "\n".join(f"    - {CYCLE[i % len(CYCLE)]}" for i in range(depth))
    return (
        "name: sequential-50\nmodel:\n  family: Sequential\n  num_spatial_dims: 1\n"
        f"  in_channels: 1\n  layers:\n{layers}\ninput:\n  resolution: {length}\n"
    )


def main() -> None:
    t0 = time.perf_counter()
    import equinox  # noqa: F401
    import jax  # noqa: F401

    t_import = time.perf_counter() - t0

    from archinspect.analysis.params import count_params
    from archinspect.analysis.receptive_field import receptive_field
    from archinspect.analysis.shapes import forward_layers
    from archinspect.build import build_abstract
    from archinspect.spec import load_spec_text

    steps: dict[str, float] = {}
    t = time.perf_counter()
    spec = load_spec_text(spec_text(), "sequential-50.yaml")
    steps["validate (shape walk)"] = time.perf_counter() - t
    t = time.perf_counter()
    model = build_abstract(spec)
    steps["build (abstract)"] = time.perf_counter() - t
    t = time.perf_counter()
    params = count_params(model)
    steps["count"] = time.perf_counter() - t
    t = time.perf_counter()
    out, rows, _ = forward_layers(model, spec.input_shape, "float32")
    steps[f"shapes ({len(rows)} rows)"] = time.perf_counter() - t
    t = time.perf_counter()
    rf = receptive_field(model, spec.input_shape)
    steps["structural RF"] = time.perf_counter() - t
    print(f"import jax, equinox (baseline)  {t_import:.2f} s")
    for name, seconds in steps.items():
        print(f"{name:<31} {seconds:.3f} s")
    print(f"{'total beyond the baseline':<31} {sum(steps.values()):.3f} s")
    print(f"params {params.total:,}; output {out}; RF {rf.per_axis}")


if __name__ == "__main__":
    main()
