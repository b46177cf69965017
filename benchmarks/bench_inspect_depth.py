"""CPU seconds of each part of `archinspect inspect` on configs/convnet.yaml against depth.

Each depth runs in a fresh process; there the parts run one after another (`inspect` overlaps
the two compiles and the receptive field in threads, which hides which part grows). Prints a
table of parts x depths and, between successive depths, the local exponent (log of the time
ratio over log of the depth ratio): 1 is linear, 2 quadratic. CPU time (time.process_time,
every thread), not wall time: the development machine is shared. README "Deep models" quotes
a run.

Usage: python benchmarks/bench_inspect_depth.py [DEPTH ...]   (default 100 200 400)
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = str(ROOT / "configs/convnet.yaml")


def one(depth: int) -> dict[str, float]:
    """The parts of one `inspect` at `depth`, CPU seconds each, in this process."""
    os.environ["ARCHINSPECT_NO_CACHE"] = "1"
    from archinspect.analysis.flops import per_layer_flops, whole_flops
    from archinspect.analysis.flops_analytic import analytic_flops, trace_forward
    from archinspect.analysis.params import measured_summary, module_rows
    from archinspect.analysis.programs import forward_program, train_step_program
    from archinspect.build import build_abstract
    from archinspect.commands.inspect import COMPILE_OPTIONS, _forward
    from archinspect.commands.rf import receptive_fields_or_note
    from archinspect.spec import load_spec

    out: dict[str, float] = {}

    def part(name, f):
        start = time.process_time()
        result = f()
        out[name] = time.process_time() - start
        return result

    spec = load_spec(SPEC, [f"model.depth={depth}"])
    model = part("build", lambda: build_abstract(spec))
    _, leaves = module_rows(model, spec.frozen)
    part("params", lambda: measured_summary(model, leaves, spec.input_shape, spec.input.dtype))
    shape, rows, calls = part("shapes trace", lambda: _forward(spec, model))
    batch_in = (spec.input.batch_size, *spec.input_shape)
    batch_out = (spec.input.batch_size, *shape)
    dtype = spec.input.dtype
    forward = part("lower forward", lambda: forward_program(model, batch_in, dtype))
    learnable = frozenset(leaf.name for leaf in leaves if leaf.learnable)
    train = part(
        "lower train step",
        lambda: train_step_program(model, batch_in, batch_out, dtype, None, learnable),
    )
    part("compile forward", lambda: forward.compile(dict(COMPILE_OPTIONS)))
    part("compile train step", lambda: train.compile(dict(COMPILE_OPTIONS)))
    shown = {r.path for r in rows if r.depth <= 2}
    part("per-layer FLOPs", lambda: per_layer_flops(model, [c for c in calls if c.path in shown]))
    traced = part("trace one sample", lambda: trace_forward(model, spec.input_shape, dtype))
    part("whole + analytic FLOPs", lambda: (whole_flops(traced), analytic_flops(traced)))
    part("receptive field", lambda: receptive_fields_or_note(spec, model))
    return out


def main() -> None:
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(one(int(sys.argv[2]))))
        return
    depths = [int(d) for d in sys.argv[1:]] or [100, 200, 400]
    runs = {}
    for d in depths:
        done = subprocess.run(
            [sys.executable, __file__, "--one", str(d)], capture_output=True, text=True, check=True
        )
        runs[d] = json.loads(done.stdout.strip().splitlines()[-1])
    parts = list(runs[depths[0]])
    runs_total = {d: sum(runs[d].values()) for d in depths}
    head = "".join(f"{'D=' + str(d):>9}" for d in depths)
    print(f"{'part (CPU s)':<24}{head}   exponent per step")
    for name, values in [
        *((p, [runs[d][p] for d in depths]) for p in parts),
        ("sum", [runs_total[d] for d in depths]),
    ]:
        steps = [
            f"{math.log2(b / a) / math.log2(db / da):.2f}" if a >= 0.05 else "-"
            for a, b, da, db in zip(values, values[1:], depths, depths[1:], strict=False)
        ]
        print(f"{name:<24}" + "".join(f"{v:9.2f}" for v in values) + "   " + " ".join(steps))


if __name__ == "__main__":
    main()
