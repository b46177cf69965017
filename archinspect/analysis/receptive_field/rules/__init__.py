"""One exact dependency rule per jaxpr primitive, for the structural receptive field.

The tables every value carries are described in `tables`; the registry (`RULES`, keyed by the
primitive objects of the installed JAX) and what a rule may consult in `registry`. Each family
of rules lives in its own module and registers its primitives next to the helper that defines
the family:

- `elementwise`: arithmetic, comparisons, special functions, conversions (`defelementwise`);
- `marks`: identities, constants and archinspect's own mark (`defidentity`, `defconstant`);
- `movement`: broadcasts, reshapes, transposes, slices, concatenation, padding;
- `indexed`: scatter, gather, dynamic_update_slice;
- `reductions`: reductions and contractions (dot_general);
- `windowed`: convolutions and pooling;
- `fft`: Fourier transforms;
- `cumulative`: cumulative operations and sorts along an axis;
- `tile`: repetition of an array along its axes;
- `calls`: calls, checkpoints, custom derivatives, cond (`defcall`), callbacks, and `walk`, the
  one traversal of a jaxpr and the jaxprs inside it;
- `loops`: scan and while loops, interpreted step by step.

A primitive without a rule is an error that names it (`unknown`), never a guess, unless
nothing it reads depends on the input (then neither does anything it returns).
"""

from __future__ import annotations

from archinspect.analysis.jaxprs import sub_jaxprs, walk
from archinspect.analysis.receptive_field.rules import (  # noqa: F401  (each registers its rules)
    calls,
    cumulative,
    elementwise,
    fft,
    indexed,
    loops,
    marks,
    movement,
    reductions,
    tile,
    windowed,
)
from archinspect.analysis.receptive_field.rules.marks import MARK
from archinspect.analysis.receptive_field.rules.registry import RULES, Context, Rule, unknown
from archinspect.analysis.receptive_field.rules.tables import Tag, Val, empty, input_val

__all__ = [
    "MARK",
    "RULES",
    "Context",
    "Rule",
    "Tag",
    "Val",
    "empty",
    "input_val",
    "sub_jaxprs",
    "unknown",
    "walk",
]
