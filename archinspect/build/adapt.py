"""Equinox models whose input is not one channels-first sample: an adapter that every analysis
calls with one (README "Inputs of any shape").

Analyses see the input as channels first (`Spec.input_shape`): axis 0 holds the features, the
other axes are spatial. A sequence model that takes (L, D), features last, is called through
this adapter with the axes moved; a model without a feature axis (a scalar index, a sequence of
token ids) gets a leading axis of one that the adapter drops; the further positional inputs of a
model taking several (`eqx.nn.GRUCell(input, hidden)`) are zeros of their declared shapes (and
of the input's dtype), so every analysis is about the first input. It also carries the note of
a model built concretely (archinspect.build.concrete), for the reports.

The adapter is transparent to the parameter tree and the call recording (its
`archinspect_inner`, read by archinspect.analysis.params.unwrap): the model's paths, types and
the shapes it is called with are its own.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp


class InputAdapter(eqx.Module):
    model: Any
    layout: str = eqx.field(static=True)  # channels_first | channels_last | no_channels
    extra: tuple[tuple[tuple[int, ...], str], ...] = eqx.field(static=True)  # (shape, dtype)
    # An integer input's dtype: an analysis that traces with a real-valued input (the structural
    # receptive field) has it converted, so the dependence on it is followed through the cast.
    integer: str | None = eqx.field(static=True)
    notes: tuple[str, ...] = eqx.field(static=True)  # how it was built (a concrete build)

    @property
    def archinspect_inner(self) -> Any:
        return self.model

    def __call__(self, x: Any) -> Any:
        if self.integer is not None and x.dtype != jnp.dtype(self.integer):
            x = x.astype(self.integer)
        if self.layout == "channels_last":
            x = jnp.moveaxis(x, 0, -1)
        elif self.layout == "no_channels":
            x = x[0]
        extras = [jnp.zeros(shape, jnp.dtype(dtype)) for shape, dtype in self.extra]
        out = self.model(x, *extras)
        if self.layout != "channels_last":
            return out

        def back(y: Any) -> Any:
            return jnp.moveaxis(y, -1, 0) if getattr(y, "ndim", 0) >= 2 else y

        return jax.tree_util.tree_map(back, out)


def adapt(
    model: Any,
    layout: str | None,
    extra: tuple[tuple[int, ...], ...],
    dtype: str,
    note: str | None = None,
) -> Any:
    """The model itself when it takes one channels-first sample and was built abstractly, else
    its adapter (which carries the note of a concrete build)."""
    integer = dtype if dtype.startswith(("int", "uint")) else None
    if layout in (None, "channels_first") and not extra and note is None and integer is None:
        return model
    notes = () if note is None else (note,)
    extras = tuple((s, dtype) for s in extra)
    return InputAdapter(
        model=model, layout=layout or "channels_first", extra=extras, integer=integer, notes=notes
    )


def build_notes(model: Any) -> tuple[str, ...]:
    """Notes on how the model was built (README "Constructors that need concrete values")."""
    return model.notes if isinstance(model, InputAdapter) else ()
