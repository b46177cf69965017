"""Spec -> Equinox model. Abstract by default: every array leaf is a ShapeDtypeStruct."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from archinspect.errors import ArchinspectError, BuildError
from archinspect.families import FAMILIES
from archinspect.limits import MEMORY_LIMIT
from archinspect.spec.kinds import ACTIVATIONS
from archinspect.spec.model import Spec


def _target_kwargs(args: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for a target: activation names become JAX functions, lists tuples."""
    from archinspect.activations import plain

    out: dict[str, Any] = {}
    for key, value in args.items():
        if key.endswith("activation") and isinstance(value, str) and value in ACTIVATIONS:
            out[key] = plain(value)
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


def construct_kwargs(spec: Spec, make: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The constructor's keyword arguments (without `key`, which is passed beside them so that
    a spec that sets one is refused): `dtype` from input.dtype when the input is floating, the
    constructor takes a `dtype` and the spec does not set one (a bfloat16 input meets bfloat16
    weights: README "Inputs of any shape")."""
    import jax.numpy as jnp

    out = dict(kwargs)
    floating = spec.input.dtype.startswith(("float", "bfloat"))
    if spec.target is not None and floating and "dtype" not in out and _named(make, "dtype"):
        out["dtype"] = jnp.dtype(spec.input.dtype)
    return out


def _named(make: Any, name: str) -> bool:
    """Whether the constructor names argument `name` (not only **kwargs, which may not take
    it)."""
    import inspect

    function = getattr(make, "__init__") if isinstance(make, type) else make  # noqa: B009
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def wide(dtype: str) -> Any:
    """JAX's 64-bit mode for a float64 input (as inspect runs it), else nothing."""
    import contextlib

    import jax

    return jax.enable_x64(True) if dtype == "float64" else contextlib.nullcontext()


def build_abstract(
    spec: Spec,
    trusted: Iterable[str] = (),
    max_memory: int = MEMORY_LIMIT,
    *,
    real_seed: int | None = None,
) -> Any:
    """Trace the constructor with `eqx.filter_eval_shape`: no weight is ever allocated.

    A `target:` that takes `rngs=` is a Flax NNX model: built under `nnx.eval_shape` with
    `rngs=nnx.Rngs(0)` and wrapped (`archinspect.build.flax.wrap_flax`, README "Flax NNX
    models"). With `real_seed` the constructor runs for real with `key=PRNGKey(real_seed)`
    (`archinspect init`, which checks the size on the abstract build first; Equinox models
    only). A constructor that cannot be traced is built concretely when it fits
    `max_memory` bytes (archinspect.build.concrete). An Equinox input that is not one
    channels-first sample is adapted (archinspect.build.adapt)."""
    import equinox as eqx
    import jax

    make, kwargs = constructor(spec, trusted)
    if spec.target is not None:
        from archinspect.build.arguments import check_target_arguments

        check_target_arguments(spec, make)
    if spec.target is not None and wants_rngs(make):
        if real_seed is not None:
            raise BuildError(
                f"error: {spec.source}: model.target {spec.target!r} is a Flax NNX model; "
                "real weights (archinspect init) are drawn for Equinox models only"
            )
        if spec.input.layout == "no_channels" or spec.input.extra:
            raise BuildError(
                f"error: {spec.source}: model.target {spec.target!r} is a Flax NNX model, which "
                "takes one input with a feature axis; input.layout no_channels and a list of "
                "input shapes are for Equinox modules"
            )
        from archinspect.build.flax import build_flax

        return build_flax(spec, make, kwargs)
    if spec.input.batch_axis:
        raise BuildError(
            f"error: {spec.source}: a batch axis in input.shape is for Flax NNX models (a "
            f"`target:` taking `rngs=`); model.target {spec.target!r} is an Equinox module, "
            "which takes one sample"
        )

    from archinspect.build.forward import takes_key, wrap

    # Only a constructor that takes a key gets one: eqx.nn.LayerNorm, GroupNorm, BatchNorm,
    # the pools, Dropout, Sequential and PReLU take none (a TypeError if given one).
    seed = 0 if real_seed is None else real_seed
    keyed = takes_key(make)
    with_state = bool(spec.forward.get("state"))

    def construct() -> Any:
        made = construct_kwargs(spec, make, kwargs)
        # Made here, the key is traced with the weights under eqx.filter_eval_shape: an
        # abstract build compiles no XLA program (drawing a key eagerly compiles two).
        extra = {"key": jax.random.PRNGKey(seed)} if keyed else {}
        if with_state:  # (model, eqx.nn.State): the state held apart, as its users build it
            return eqx.nn.make_with_state(make)(**made, **extra)
        return make(**made, **extra)

    from archinspect.build.concrete import build_concrete, untraceable
    from archinspect.layers.draws import only_shapes

    def abstract(construct: Any) -> Any:
        # Only the shapes and dtypes come out of eqx.filter_eval_shape, so the built-in layers
        # make their weights' shapes without tracing the random draws (layers/draws.py); the
        # concrete fallback below draws them for real.
        with only_shapes():
            return eqx.filter_eval_shape(construct)

    what = spec.target or spec.family
    note = None
    try:
        # float64 weights need JAX's 64-bit mode while they are made (else they are float32)
        with wide(spec.input.dtype):
            try:
                built = abstract(construct) if real_seed is None else construct()
            except untraceable() as exc:
                built, note = build_concrete(spec, trusted, construct, exc, max_memory)
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
    from archinspect.build.adapt import adapt

    # the forward options first (how the model is called), then the input's form around them
    called = wrap(model, spec.forward, spec.source, state, spec.marks)
    return adapt(called, spec.input.layout, spec.input.extra, spec.input.dtype, note)
