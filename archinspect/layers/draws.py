"""Whether the layers draw their initial weights or only give them shapes.

Inside `build_abstract` the constructor is traced by `eqx.filter_eval_shape`, which keeps the
shape and dtype of every weight and nothing else: tracing the random draws there (a threefry
program and a dozen operations per array) is work whose result is thrown away, most of the
abstract build of a shallow network of distinct layers (README "Performance"). The initialisers
that read `shapes_only()` return arrays of the same shapes and dtypes instead. Concrete builds
(real weights, `archinspect init`, the concrete fallback) never set it.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

_SHAPES_ONLY: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "archinspect_shapes_only", default=False
)


def shapes_only() -> bool:
    """True while a constructor is traced for the shapes of its weights only."""
    return _SHAPES_ONLY.get()


@contextlib.contextmanager
def only_shapes() -> Iterator[None]:
    """Trace the constructors called inside for their weights' shapes and dtypes only."""
    token = _SHAPES_ONLY.set(True)
    try:
        yield
    finally:
        _SHAPES_ONLY.reset(token)
