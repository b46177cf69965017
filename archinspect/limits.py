"""Limits shared by several parts and set from the command line; JAX-free."""

from __future__ import annotations

# Bytes of memory one build or measurement may take: `--max-memory` (count, shapes, inspect,
# rf). Building a model concretely (archinspect.build.concrete) and growing the empirical
# receptive field's input (archinspect.analysis.receptive_field.empirical) are refused past it.
MEMORY_LIMIT = 4 << 30

# How far one `solve` search may go (`--max-value`, `--max-evaluations`, `--time-limit` in
# seconds): each probe builds and measures a whole model, and a limit no value reaches would
# otherwise grow the model until memory or patience ran out (archinspect.commands.solve).
SOLVE_MAX_VALUE = 2**16
SOLVE_MAX_EVALUATIONS = 64
SOLVE_TIME_LIMIT = 300.0
