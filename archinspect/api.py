"""The Python API (README "Python API"): the CLI's reports for a model already built.

Each function takes a live model -- concrete, or abstract from `eqx.filter_eval_shape` -- and
returns the report the CLI renders for a spec, built by the same use cases
(archinspect.commands) with the model handed over instead of built from a file. Nothing here
imports JAX until a function is called.
"""

from __future__ import annotations

import dataclasses
from typing import Any

_Report = Any  # CountReport, InspectReport, RFReport: imported lazily below


def count(
    model: Any,
    x: Any = None,
    *,
    depth: int | None = 2,
    rf: bool | None = None,
    name: str = "model",
    frozen: Any = (),
    forward: Any = None,
    state: Any = None,
) -> _Report:
    """Count the parameters of a model exactly: total, learnable, materialized, by dtype and in
    bytes, per module (`archinspect count`).

    **Arguments:**

    - `model`: an Equinox module (or a Flax NNX module), concrete or abstract (from
        `eqx.filter_eval_shape`: no weight is ever allocated).
    - `x`: optional; an input (an array, a `jax.ShapeDtypeStruct` or a shape tuple,
        unbatched; channels first, or last for a Flax module): the input shape in the report,
        and the input the receptive field is measured on.
    - `depth`: module rows deeper than this are folded into their parent (None: every row).
    - `rf`: add the cumulative receptive field per module and of the network, as
        `archinspect count` does by default. None (the default): when `x` is given; True
        needs `x`; False: parameters only.
    - `name`: the report's name (a spec's `name:`).
    - `frozen`: a pattern, or a list of them, of arrays that are not trained (`--frozen`):
        out of `learnable`, counted as `frozen`.
    - `forward`, `state`: how the model is called, as a spec's `forward:` says (README
        "forward:"): `{"key": True, "inference": True, "state": True, "train": False}`;
        `state` the `eqx.nn.State` of a model built with `eqx.nn.make_with_state` (its
        arrays are counted as state).

    **Returns:**

    A `CountReport`: shown as the `archinspect count` table in a terminal and as HTML in
    Jupyter; `.to_dict()` and `.to_json()` give what `archinspect count --format json` prints
    (`spec` is None: there is no spec file).
    """
    from archinspect.build.live import input_of, layout_of, live_model, live_spec
    from archinspect.commands.count import count_report
    from archinspect.errors import ArgumentError

    caller = "archinspect.count"
    if not (rf is None or rf is True or rf is False):
        raise ArgumentError(
            f"{caller}: `rf` (={rf!r}) must be True, False or None (None: the receptive "
            "field when `x` is given)"
        )
    if rf and x is None:
        raise ArgumentError(
            f"{caller}: `rf=True` needs `x`: a receptive field is measured on an input "
            "(an array, a jax.ShapeDtypeStruct or a shape tuple)"
        )
    layout = layout_of(model, None)
    module, family, _ = live_model(caller, model, layout, forward=forward, state=state)
    shape = None if x is None else input_of(caller, x, layout)[0]
    spec = live_spec(caller, name, family, shape or (1,), frozen=frozen)
    # As the CLI: None adds the field where it can and notes why not (a forward pass that
    # fails leaves the totals standing); True makes such a failure the error.
    report = count_report(spec, depth, model=module, rf=rf if x is not None else False)
    if shape is None:
        return dataclasses.replace(report, spec=None, num_spatial_dims=None, input_shape=None)
    return dataclasses.replace(report, spec=None)


def shapes(
    model: Any,
    x: Any,
    *,
    depth: int | None = 2,
    rf: bool = True,
    layout: str | None = None,
    name: str = "model",
    frozen: Any = (),
    forward: Any = None,
    state: Any = None,
) -> _Report:
    """Per-layer input and output shapes of the forward pass, traced abstractly (nothing is
    compiled or run), with each module's parameters, calls, conv geometry and cumulative
    receptive field (`archinspect shapes`).

    **Arguments:**

    - `model`: an Equinox module (or a Flax NNX module), concrete or abstract.
    - `x`: one input: an array, a `jax.ShapeDtypeStruct` or a shape tuple, unbatched and
        channels first (`(channels, *spatial)`, the Equinox convention) unless `layout` says
        otherwise. Its floating dtype is used (float32 for a shape tuple).
    - `depth`: rows deeper than this are folded into their parent (None: every row).
    - `rf`: add the cumulative receptive field per layer and of the network.
    - `layout`: `"channels_first"` (the default for Equinox modules) or `"channels_last"`
        (the default for Flax modules): how `x` and the model lay out the channel axis.
    - `name`: the report's name.
    - `frozen`, `forward`, `state`: as for `count`.

    **Returns:**

    An `InspectReport` shown as `archinspect shapes` shows it; `.to_dict()` gives what
    `archinspect shapes --format json` prints.
    """
    return _inspect(
        "archinspect.shapes",
        model,
        x,
        depth,
        rf,
        layout,
        name,
        costs=False,
        how=dict(frozen=frozen, forward=forward, state=state),
    )


def inspect(
    model: Any,
    x: Any,
    flops: bool = True,
    memory: bool = True,
    *,
    depth: int | None = 2,
    rf: bool = True,
    batch_size: int = 1,
    platform: str | None = None,
    layout: str | None = None,
    name: str = "model",
    frozen: Any = (),
    forward: Any = None,
    state: Any = None,
) -> _Report:
    """Parameters, per-layer shapes, XLA's FLOPs and memory (`archinspect inspect`). The
    programs are compiled, never run.

    **Arguments:**

    - `model`: an Equinox module (or a Flax NNX module), concrete or abstract.
    - `x`: one input, unbatched: an array, a `jax.ShapeDtypeStruct` or a shape tuple (see
        `shapes`).
    - `flops`: XLA's FLOP estimate of the forward pass, total and per layer, and the analytic
      count beside it (2 x multiply-adds including padding taps, plus bias adds).
    - `memory`: XLA's memory analysis of the forward pass and of a training step, and the
        activation bytes. With neither, nothing is compiled.
    - `depth`, `rf`, `layout`, `name`: as for `shapes`.
    - `batch_size`: the batch the compiled programs take.
    - `platform`: `"cpu"`, `"gpu"` or `"tpu"` (None: JAX's default backend).
    - `frozen`, `forward`, `state`: as for `count`.

    **Returns:**

    An `InspectReport` shown as `archinspect inspect` shows it; `.to_dict()` gives what
    `archinspect inspect --format json` prints.
    """
    from archinspect.errors import ArgumentError

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ArgumentError(
            f"archinspect.inspect: `batch_size` (={batch_size!r}) must be a positive integer"
        )
    costs = bool(flops or memory)
    report = _inspect(
        "archinspect.inspect",
        model,
        x,
        depth,
        rf,
        layout,
        name,
        costs=costs,
        layer_costs=bool(flops),
        batch_size=batch_size,
        platform=platform,
        how=dict(frozen=frozen, forward=forward, state=state),
    )
    keep: dict[str, Any] = {"full": True}
    if not flops:  # the compiled forward pass gave the root row its FLOPs: not asked for
        keep["flops"] = None
        keep["layers"] = tuple(
            dataclasses.replace(r, flops=None, flops_note=None, analytic_flops=None)
            for r in report.layers
        )
    if not memory:
        keep["memory"] = None
    return dataclasses.replace(report, **keep)


def _inspect(
    caller: str,
    model: Any,
    x: Any,
    depth: int | None,
    rf: bool,
    layout: str | None,
    name: str,
    *,
    costs: bool,
    layer_costs: bool = True,
    batch_size: int = 1,
    platform: str | None = None,
    how: dict[str, Any] | None = None,
) -> _Report:
    from archinspect.build.live import ChannelsLast, input_of, layout_of, live_model, live_spec
    from archinspect.commands.inspect import inspect_report

    how = how or {}
    layout = layout_of(model, layout)
    module, family, _ = live_model(
        caller, model, layout, forward=how.get("forward"), state=how.get("state")
    )
    shape, dtype = input_of(caller, x, layout)
    spec = live_spec(caller, name, family, shape, dtype, batch_size, how.get("frozen", ()))
    wrapped = isinstance(module, ChannelsLast)
    report = inspect_report(
        spec,
        depth=None if depth is None else depth + wrapped,  # the wrapper is one more level
        platform=platform,
        costs=costs,
        layer_costs=layer_costs,
        rf=rf,
        model=module,
    )
    if wrapped:
        report = _unwrapped(report)
    return dataclasses.replace(report, spec=None, depth=depth)


def _inner(path: str) -> str:
    """A path in the ChannelsLast wrapper ("inner", "inner.conv") as a path in the model."""
    return "" if path == "inner" else path.removeprefix("inner.")


def _unwrapped(report: _Report) -> _Report:
    """A channels-last model is analysed inside a ChannelsLast wrapper (archinspect.build.live):
    its rows and the modules its receptive field names are given as the model's own, without
    the wrapper's row and its `inner` (the model's row keeps the shapes the model itself sees)."""
    from archinspect.report import InspectReport

    rf = report.receptive_field if isinstance(report, InspectReport) else report.result
    if rf is not None:
        via = tuple(dataclasses.replace(g, path=_inner(g.path)) for g in rf.global_via)
        rf = dataclasses.replace(rf, global_via=via)
    if not isinstance(report, InspectReport):
        return dataclasses.replace(report, result=rf)
    layers = tuple(
        dataclasses.replace(r, path=_inner(r.path), depth=r.depth - 1)
        for r in report.layers
        if r.path != ""
    )
    return dataclasses.replace(report, layers=layers, receptive_field=rf)


def receptive_field(
    model_or_fn: Any,
    x: Any,
    method: str = "structural",
    *,
    layout: str | None = None,
    name: str | None = None,
    forward: Any = None,
    state: Any = None,
) -> _Report:
    """The exact receptive field per spatial axis and direction, its range over output
    positions, and whether any output depends on every input (`archinspect rf`).

    **Arguments:**

    - `model_or_fn`: an Equinox module (or a Flax NNX module), concrete or abstract, or any
        pure JAX function `f(x)` of one unbatched input (analysed as a module with no
        parameters).
    - `x`: one input: an array, a `jax.ShapeDtypeStruct` or a shape tuple, unbatched and
        channels first (`(channels, *spatial)`) unless `layout` says otherwise.
    - `method`: `"structural"` (a dependency analysis of the traced program), `"empirical"`
        (gradients of a positive linear float64 copy) or `"both"` (they must agree).
    - `layout`: `"channels_first"` (the default for modules and functions) or
        `"channels_last"` (the default for Flax modules); the receptive field is reported per
        spatial axis either way.
    - `name`: the report's name (default: "model", or "function" for a function).
    - `forward`, `state`: how a module is called, as for `count`.

    **Returns:**

    An `RFReport` shown as `archinspect rf` shows it; `.to_dict()` gives what
    `archinspect rf --format json` prints.
    """
    from archinspect.analysis.receptive_field import METHODS
    from archinspect.build.live import ChannelsLast, input_of, layout_of, live_model, live_spec
    from archinspect.commands.rf import rf_report
    from archinspect.errors import ArgumentError

    caller = "archinspect.receptive_field"
    if method not in METHODS:
        allowed = ", ".join(repr(m) for m in METHODS)
        raise ArgumentError(f"{caller}: `method` (={method!r}) must be one of {allowed}")
    layout = layout_of(model_or_fn, layout)
    module, family, function = live_model(
        caller, model_or_fn, layout, functions=True, forward=forward, state=state
    )
    shape, dtype = input_of(caller, x, layout)
    spec = live_spec(caller, name or ("function" if function else "model"), family, shape, dtype)
    report = rf_report(spec, method=method, model=module, live=True)
    if isinstance(module, ChannelsLast):
        report = _unwrapped(report)
    return dataclasses.replace(report, spec=None)


def diff(
    a: Any,
    b: Any,
    x: Any,
    x_b: Any = None,
    *,
    flops: bool = False,
    memory: bool = False,
    depth: int | None = 2,
    batch_size: int = 1,
    platform: str | None = None,
    names: tuple[str, str] = ("A", "B"),
) -> _Report:
    """Two models side by side (`archinspect diff`): parameters (total, learnable,
    materialized, per module) with the differences B - A and the ratios B / A, input and output
    shapes, receptive field; XLA's FLOPs and memory when asked for.

    **Arguments:**

    - `a`, `b`: Equinox modules (or Flax NNX modules), concrete or abstract.
    - `x`: one input for both (for `b` too unless `x_b` is given): an array, a
        `jax.ShapeDtypeStruct` or a shape tuple, unbatched, in the model's convention
        (channels first for Equinox, channels last for Flax).
    - `x_b`: `b`'s input when it differs from `a`'s (another resolution or channel count).
    - `flops`, `memory`: compile both forward passes (and training steps for memory), never
        run them; without them nothing is compiled.
    - `depth`: module rows deeper than this are folded into their parent (None: every row).
    - `batch_size`, `platform`: for the compiled programs, as for `inspect`.
    - `names`: the two reports' names.

    **Returns:**

    A `DiffReport` shown as `archinspect diff` shows it; `.to_dict()` gives what
    `archinspect diff --format json` prints (`spec` is None on both sides).
    """
    from archinspect.build.live import input_of, layout_of, live_model, live_spec
    from archinspect.commands.diff import diff_report
    from archinspect.errors import ArgumentError

    caller = "archinspect.diff"
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ArgumentError(f"{caller}: `batch_size` (={batch_size!r}) must be a positive integer")
    specs, modules = [], []
    for model, given, name in zip((a, b), (x, x if x_b is None else x_b), names, strict=True):
        layout = layout_of(model, None)
        module, family, _ = live_model(caller, model, layout)
        shape, dtype = input_of(caller, given, layout)
        specs.append(live_spec(caller, name, family, shape, dtype, batch_size))
        modules.append(module)
    report = diff_report(
        specs[0],
        specs[1],
        depth=depth,
        flops=flops,
        memory=memory,
        platform=platform,
        models=(modules[0], modules[1]),
    )
    return dataclasses.replace(
        report,
        a=dataclasses.replace(report.a, spec=None),
        b=dataclasses.replace(report.b, spec=None),
    )
