"""Memory: parameter bytes, activation bytes, and XLA's compiled memory analysis."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from archinspect.analysis.recorder import Call
from archinspect.report import XlaMemory


def activation_bytes(calls: list[Call], leaf_paths: set[str], batch_size: int) -> int:
    """Bytes of every output of every call of a leaf module, for the whole batch.

    This is what a training step keeps for the backward pass if nothing is fused or
    rematerialised: an upper-bound reading, next to XLA's own figure for the compiled step.
    """
    total = 0
    for call in calls:
        if call.path in leaf_paths:
            for shape, dtype in zip(call.output_shapes, call.output_dtypes, strict=True):
                total += math.prod(shape) * np.dtype(dtype).itemsize * call.repeat
    return total * batch_size


def xla_memory(compiled: Any) -> XlaMemory | None:
    stats = compiled.memory_analysis()
    if stats is None:
        return None
    return XlaMemory(
        argument_bytes=int(stats.argument_size_in_bytes),
        output_bytes=int(stats.output_size_in_bytes),
        temp_bytes=int(stats.temp_size_in_bytes),
        alias_bytes=int(stats.alias_size_in_bytes),
        generated_code_bytes=int(stats.generated_code_size_in_bytes),
    )
