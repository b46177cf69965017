"""Spec -> Equinox model. Abstract by default: every array leaf is a ShapeDtypeStruct."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from archinspect.errors import ArchinspectError, BuildError
from archinspect.families import FAMILIES
from archinspect.spec.kinds import ACTIVATIONS
from archinspect.spec.model import Spec


def _target_kwargs(args: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for a target: activation names become JAX functions, lists tuples."""
    from archinspect.activations import activation

    out: dict[str, Any] = {}
    for key, value in args.items():
        if key.endswith("activation") and isinstance(value, str) and value in ACTIVATIONS:
            out[key] = activation(value)
        elif isinstance(value, list):
            out[key] = tuple(value)
        else:
            out[key] = value
    return out


def constructor(spec: Spec, trusted: Iterable[str] = ()) -> tuple[Any, dict[str, Any]]:
    """The callable that builds the model and its keyword arguments (without `key`)."""
    if spec.target is not None:
        from archinspect.build.target import load_target

        return load_target(spec.target, trusted, spec.source), _target_kwargs(spec.args)
    family = FAMILIES[spec.family]
    kwargs = dict(spec.args)
    if family.input_sized:
        kwargs["resolution"] = tuple(spec.input.resolution)
    return family.load_class(), kwargs


def user_errors(spec: Spec) -> type[Exception] | tuple[type[Exception], ...]:
    """What building or running the spec's model may raise that is the spec's fault, not a bug
    here: anything from a user's `target:`, bad arguments or shapes from a built-in family."""
    return Exception if spec.target is not None else (ValueError, TypeError, AssertionError)


def wants_rngs(make: Any) -> bool:
    """A Flax NNX constructor: it takes `rngs=` (and no `key=`)."""
    import inspect

    # A class's own __init__ (a metaclass __call__, as flax's, hides it from signature(cls)).
    function = getattr(make, "__init__") if isinstance(make, type) else make  # noqa: B009
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return "rngs" in parameters and "key" not in parameters


def build_abstract(spec: Spec, trusted: Iterable[str] = ()) -> Any:
    """Trace the constructor with `eqx.filter_eval_shape`: no weight is ever allocated.

    A `target:` that takes `rngs=` is a Flax NNX model: built under `nnx.eval_shape` with
    `rngs=nnx.Rngs(0)` and wrapped (`archinspect.build.flax.wrap_flax`, README "Flax NNX
    models")."""
    import equinox as eqx
    import jax

    make, kwargs = constructor(spec, trusted)
    if spec.target is not None:
        from archinspect.build.arguments import check_target_arguments

        check_target_arguments(spec, make)
    if spec.target is not None and wants_rngs(make):
        from archinspect.build.flax import build_flax

        return build_flax(spec, make, kwargs)
    if spec.input.layout == "channels_last" or spec.input.batch_axis:
        what = "input.layout channels_last" if spec.input.layout else "a batch axis in input.shape"
        raise BuildError(
            f"error: {spec.source}: {what} is for Flax NNX models (a `target:` taking `rngs=`); "
            f"model.target {spec.target!r} is an Equinox module, which takes one channels-first "
            "sample"
        )

    from archinspect.build.forward import takes_key, wrap

    # Only a constructor that takes a key gets one: eqx.nn.LayerNorm, GroupNorm, BatchNorm,
    # the pools, Dropout, Sequential and PReLU take none (a TypeError if given one).
    extra = {"key": jax.random.PRNGKey(0)} if takes_key(make) else {}
    with_state = bool(spec.forward.get("state"))

    def construct() -> Any:
        if with_state:  # (model, eqx.nn.State): the state held apart, as its users build it
            return eqx.nn.make_with_state(make)(**kwargs, **extra)
        return make(**kwargs, **extra)

    what = spec.target or spec.family
    try:
        built = eqx.filter_eval_shape(construct)
    except ArchinspectError:
        raise
    except user_errors(spec) as exc:
        raise BuildError(
            f"error: {spec.source}: cannot build {what} with these arguments: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    model, state = built if with_state else (built, None)
    if not isinstance(model, eqx.Module):
        raise BuildError(
            f"error: {spec.source}: model.target {what!r} returned a {type(model).__name__}, "
            "not an Equinox module (eqx.Module)"
            + (
                " (with forward.state: true it is built with eqx.nn.make_with_state)"
                if with_state
                else ""
            )
        )
    return wrap(model, spec.forward, spec.source, state, spec.marks)
