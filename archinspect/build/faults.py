"""Whose fault a failure is: the user's model or spec (exit 2), or archinspect's (exit 3).

One definition for every command. Building: what `user_errors` admits is the spec's fault.
Running: an analysis traces the model its own way (the RF's marked trace, the per-layer
recorder, compiled programs), so a failure inside one is blamed on the model only when the
model fails on its own: its plain forward pass, traced abstractly, raises (an exception that
`user_errors` admits). Then every command says the same message, worded here; otherwise the
failure is archinspect's and is raised as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from archinspect.errors import ArchinspectError, BuildError
from archinspect.spec.model import Spec


class ForwardError(BuildError):
    """The model's own forward pass fails for the spec's input (e.g. a UNet whose resolution is
    not divisible by 2**num_levels): the spec's fault, whichever analysis met it first."""


def forward_failure(spec: Spec, exc: BaseException) -> ForwardError:
    """The one message for a forward pass that fails (`shapes`, `rf`, `check`, a sweep row)."""
    return ForwardError(
        f"error: {spec.source}: the forward pass of {spec.target or spec.family} fails "
        f"for input shape {spec.input_shape}: {type(exc).__name__}: {exc}"
    )


def forward_fault(spec: Spec, model: Any) -> ArchinspectError | None:
    """Trace the model's plain forward pass abstractly (nothing runs); the spec's fault if it
    fails (or archinspect's own error, raised by a wrapper such as the Flax one), else None."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    from archinspect.build import user_errors

    x = jax.ShapeDtypeStruct(spec.input_shape, jnp.dtype(spec.input.dtype))
    try:
        if spec.input.dtype == "float64":  # as inspect_report traces it
            with jax.enable_x64(True):
                eqx.filter_eval_shape(model, x)
        else:
            eqx.filter_eval_shape(model, x)
    except ArchinspectError as exc:
        return exc
    except user_errors(spec) as exc:
        return forward_failure(spec, exc)
    return None


@contextmanager
def blame_model(spec: Spec, model: Any) -> Iterator[None]:
    """Run an analysis of `model`: a failure that its own forward pass shows too becomes the
    spec's ForwardError; any other is raised unchanged (a bug here, or archinspect's error)."""
    try:
        yield
    except ArchinspectError:
        raise
    except Exception as exc:
        fault = forward_fault(spec, model)
        if fault is None:
            raise
        raise fault from exc
