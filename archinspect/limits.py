"""Limits shared by several parts and set from the command line; JAX-free."""

from __future__ import annotations

# Bytes of memory one build or measurement may take: `--max-memory` (count, shapes, inspect,
# rf). Building a model concretely (archinspect.build.concrete) and growing the empirical
# receptive field's input (archinspect.analysis.receptive_field.empirical) are refused past it.
MEMORY_LIMIT = 4 << 30
