"""A live model and its input -> the (model, Spec) the commands take (README "Python API").

The Python API is handed a model already built (concrete, or abstract from
`eqx.filter_eval_shape`), or a plain JAX function, and an input `x`: an array, a
`jax.ShapeDtypeStruct` or a shape tuple. Here they become what a spec file would have given the
commands: an Equinox module that takes one unbatched, channels-first input, and a `Spec` that
names no file (its `source` names the API call, for error messages). A plain function becomes a
module with no parameters; a channels-last model or function is wrapped so that it takes
channels first (the receptive field is reported per spatial axis whatever the layout).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from archinspect.errors import ArgumentError
from archinspect.spec.model import InputSpec, Spec

LAYOUTS = ("channels_first", "channels_last")


class Function(eqx.Module):
    """A pure JAX function `f(x)` as a module with no parameters."""

    fn: Callable[[Any], Any] = eqx.field(static=True)

    def __call__(self, x: Any) -> Any:
        return self.fn(x)


class ChannelsLast(eqx.Module):
    """A channels-last model or function seen channels first: the input's channel axis is
    moved last before the call, and the output's last axis moved first after it."""

    inner: Any

    def __call__(self, x: Any) -> Any:
        y = self.inner(jnp.moveaxis(x, 0, -1))
        return jnp.moveaxis(y, -1, 0) if jnp.ndim(y) > 0 else y


def check_layout(caller: str, layout: str | None) -> None:
    if layout is not None and layout not in LAYOUTS:
        raise ArgumentError(
            f"{caller}: `layout` (={layout!r}) must be one of 'channels_first', "
            "'channels_last' (or None: channels first, the Equinox convention)"
        )


def _flax_build() -> Any | None:
    """archinspect.build.flax when flax itself is already imported (nothing new is imported)."""
    if "flax" not in sys.modules or importlib.util.find_spec("archinspect.build.flax") is None:
        return None
    return importlib.import_module("archinspect.build.flax")


def _is_flax(model: Any) -> bool:
    if type(model).__module__.split(".")[0] == "flax":
        return True
    flax = _flax_build()
    return flax is not None and bool(flax.is_flax_module(model))


def layout_of(model: Any, layout: str | None) -> str | None:
    """The layout `x` is given in: as said, else channels last for a Flax module (the Flax
    convention, the one its own calls use) and channels first for everything else."""
    if layout is None and _is_flax(model):
        import equinox as eqx

        if not isinstance(model, eqx.Module):
            return "channels_last"
    return layout


def check_forward(caller: str, forward: Any) -> dict[str, Any]:
    """The API's `forward=`: what a spec's `forward:` says (README "forward:"), as a dict."""
    from archinspect.build.forward import SWITCHES

    if forward is None:
        return {}
    if not isinstance(forward, Mapping):
        raise ArgumentError(
            f"{caller}: `forward` ({_a(forward)}) must be a dict: switches "
            f"{', '.join(SWITCHES)} (booleans), or keyword arguments of the model's __call__"
        )
    for key, value in forward.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise ArgumentError(
                f"{caller}: `forward` key {key!r} must be the name of a keyword argument"
            )
        if key in SWITCHES and not isinstance(value, bool):
            raise ArgumentError(f"{caller}: `forward[{key!r}]` (={value!r}) must be True or False")
    return dict(forward)


def live_model(
    caller: str,
    model: Any,
    layout: str | None = None,
    *,
    functions: bool = False,
    forward: Any = None,
    state: Any = None,
) -> tuple[Any, str, bool]:
    """The Equinox module the analyses take (channels first), its family name (the class, or
    the function's name) and whether it was a plain function (`functions`: a callable that is
    not a module is accepted, and wrapped). `forward` and `state`: how an Equinox module is
    called (`archinspect.build.forward.wrap`)."""
    check_layout(caller, layout)
    options = check_forward(caller, forward)
    if state is not None and not isinstance(state, eqx.nn.State):
        raise ArgumentError(
            f"{caller}: `state` ({_a(state)}) must be an eqx.nn.State (from eqx.nn.make_with_state)"
        )
    if (options or state is not None) and not isinstance(model, eqx.Module):
        raise ArgumentError(
            f"{caller}: `forward` and `state` are for Equinox modules; `model` is {_a(model)}"
        )
    if isinstance(model, eqx.Module):
        from archinspect.build.forward import wrap

        family = type(model).__name__
        model = wrap(model, options, caller, state)
        return (ChannelsLast(model) if layout == "channels_last" else model), family, False
    if _is_flax(model):  # before plain callables: a Flax module is one too
        wrap_flax = importlib.import_module("archinspect.build.flax").wrap_flax
        return wrap_flax(model, layout=layout or "channels_last"), type(model).__name__, False
    if functions and callable(model) and not isinstance(model, type):
        family = getattr(model, "__name__", None) or type(model).__name__
        wrapped = Function(model)
        return (ChannelsLast(wrapped) if layout == "channels_last" else wrapped), family, True
    allowed = "an Equinox module (eqx.Module) or a Flax NNX module"
    if functions:
        allowed = "an Equinox module, a Flax NNX module or a pure JAX function f(x)"
    raise ArgumentError(f"{caller}: `model` ({_a(model)}) must be {allowed}")


def _a(value: Any) -> str:
    """'a list', 'an int': what an object is, for a message."""
    name = type(value).__name__
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name


def input_of(caller: str, x: Any, layout: str | None = None) -> tuple[tuple[int, ...], str]:
    """The unbatched, channels-first shape of `x` and its floating dtype (float32 for a shape
    tuple or a non-floating array)."""
    if isinstance(x, tuple | list):
        shape, dtype = tuple(x), "float32"
        if not all(isinstance(d, int | np.integer) and not isinstance(d, bool) for d in shape):
            raise ArgumentError(
                f"{caller}: `x` (={x!r}) must be an array, a jax.ShapeDtypeStruct or a shape "
                "tuple of ints"
            )
    elif hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, type):
        shape = tuple(x.shape)
        kind = np.dtype(x.dtype)
        dtype = kind.name if kind.kind in "fc" or kind.name == "bfloat16" else "float32"
    else:
        raise ArgumentError(
            f"{caller}: `x` ({_a(x)}) must be an array, a jax.ShapeDtypeStruct or a shape tuple"
        )
    shape = tuple(int(d) for d in shape)
    order = "(*spatial, channels)" if layout == "channels_last" else "(channels, *spatial)"
    if len(shape) < 2 or any(d < 1 for d in shape):
        raise ArgumentError(
            f"{caller}: `x` (shape {shape}) must be one unbatched input {order}: rank at least "
            "2, every size positive"
        )
    if layout == "channels_last":
        shape = (shape[-1], *shape[:-1])
    return shape, dtype


def live_spec(
    caller: str,
    name: str,
    family: str,
    input_shape: tuple[int, ...] = (1,),
    dtype: str = "float32",
    batch_size: int = 1,
    frozen: Any = (),
) -> Spec:
    """What a spec file would say about a live model, without a file: `source` names the call
    (`archinspect.shapes(...)`) in error messages; the reports' `spec` is None."""
    return Spec(
        name=name,
        source=caller,
        family=family,
        args={},
        explicit=frozenset(),
        input=InputSpec(
            resolution=tuple(input_shape[1:]),
            batch_size=batch_size,
            dtype=dtype,
            channels=input_shape[0],
        ),
        frozen=check_frozen(caller, frozen),
    )


def check_frozen(caller: str, frozen: Any) -> tuple[str, ...]:
    """The API's `frozen=`: one pattern or a sequence of them (README "archinspect count")."""
    patterns = (frozen,) if isinstance(frozen, str) else frozen
    if not isinstance(patterns, list | tuple) or not all(isinstance(p, str) for p in patterns):
        raise ArgumentError(
            f"{caller}: `frozen` (={frozen!r}) must be a pattern such as 'solver.*' or a list "
            "of them"
        )
    return tuple(patterns)
