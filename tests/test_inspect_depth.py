"""What `inspect` hands XLA grows linearly in depth (README "Performance").

`inspect` of a deep ConvNet spends a time that grows faster than depth in XLA's compile of the
forward and training-step programs (XLA:CPU builds a dependency graph of the compiled program's
steps and reduces it transitively; measured with benchmarks/bench_inspect_depth.py). These
tests pin down that the superlinear part is XLA's own: each extra layer adds the same number
of operations to both programs, so the programs are affine in depth.
"""

from __future__ import annotations

import re

import pytest

from archinspect.analysis.programs import forward_program, train_step_program
from archinspect.build import build_abstract
from archinspect.spec import load_spec

pytestmark = pytest.mark.usefixtures("repo_root")

# One operation per line of the StableHLO text: `%x = stablehlo.add ...`, `func.call ...`,
# `stablehlo.return ...`, `func.func ...` (the dialect-qualified name of the op).
OP = re.compile(r"^\s*(?:%[\w#:, %]+ = )?\"?([a-z_]+\.[a-z_]+)", re.M)


def _ops(text: str) -> int:
    return len(OP.findall(text))


def _program_ops(depth: int) -> tuple[int, int]:
    """(forward, training step) operation counts of configs/convnet.yaml at `depth`."""
    spec = load_spec("configs/convnet.yaml", [f"model.depth={depth}"])
    model = build_abstract(spec)
    batch = (spec.input.batch_size, *spec.input_shape)
    forward = forward_program(model, batch, spec.input.dtype).as_text()
    # A ConvNet keeps the resolution and has one output channel, as its input.
    train = train_step_program(model, batch, batch, spec.input.dtype).as_text()
    return _ops(forward), _ops(train)


def test_the_op_pattern_reads_each_operation_once():
    text = (
        "func.func public @main(%arg0: tensor<2xf32>) -> tensor<2xf32> {\n"
        "  %0 = stablehlo.add %arg0, %arg0 : tensor<2xf32>\n"
        "  %1:2 = func.call @f(%0) : (tensor<2xf32>) -> (tensor<2xf32>, tensor<2xf32>)\n"
        "  return %1#0 : tensor<2xf32>\n"
        "}\n"
    )
    # func.func, stablehlo.add, func.call: 3 (a bare `return` is func's, unqualified in text)
    assert _ops(text) == 3


def test_forward_and_training_step_are_affine_in_depth():
    counts = {d: _program_ops(d) for d in (1, 2, 3, 5)}
    for kind in (0, 1):  # forward, training step
        per_layer = counts[2][kind] - counts[1][kind]
        assert per_layer > 0
        for d in (3, 5):
            # ops(d) = ops(1) + (d - 1) * (ops per extra layer): no term that grows faster
            assert counts[d][kind] == counts[1][kind] + (d - 1) * per_layer, (kind, counts)
