"""Spec -> InspectReport: parameters, per-layer shapes, FLOPs and memory in one pass.

One abstract trace gives the shapes of every layer; FLOPs and memory come from XLA programs
that are lowered and compiled but never run: the forward pass compiled once, the training
step compiled once, each distinct layer lowered once.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from archinspect.analysis.banks import explain
from archinspect.analysis.flops import per_layer_flops
from archinspect.analysis.memory import activation_bytes, xla_memory
from archinspect.analysis.params import measured_summary, module_rows
from archinspect.analysis.platform import on_platform, resolve
from archinspect.analysis.programs import forward_program, train_step_program, xla_flops
from archinspect.analysis.shapes import fold_layers, forward_layers, leaf_paths
from archinspect.build import build_abstract, user_errors
from archinspect.commands.rf import receptive_fields_or_note
from archinspect.errors import ArchinspectError, BuildError
from archinspect.report import FlopsReport, InspectReport, MemoryReport
from archinspect.spec.model import Spec

COMPILE_OPTIONS = {"xla_backend_optimization_level": 0}


def _forward(spec: Spec, model: Any, dense: bool = False):
    try:
        return forward_layers(model, spec.input_shape, spec.input.dtype, dense=dense)
    except ArchinspectError:
        raise
    except user_errors(spec) as exc:
        raise BuildError(
            f"error: {spec.source}: the forward pass of {spec.target or spec.family} fails "
            f"for input shape {spec.input_shape}: {type(exc).__name__}: {exc}"
        ) from exc


def inspect_report(
    spec: Spec,
    *,
    depth: int | None = 2,
    trusted: Iterable[str] = (),
    platform: str | None = None,
    costs: bool = True,
    layer_costs: bool = True,
    rf: bool = False,
    model: Any = None,
    dense: bool = False,
) -> InspectReport:
    """The full report; with costs=False only shapes and parameters (nothing is compiled);
    `dense` adds each conv's dense equivalent (matrix size, non-zeros, weight sharing)."""
    platform = resolve(platform)
    if model is None:
        model = build_abstract(spec, trusted)
    if spec.input.dtype == "float64":
        # JAX would silently canonicalise a float64 input to float32 without x64 mode.
        import jax

        with jax.enable_x64(True):
            return _report(spec, model, depth, platform, costs, layer_costs, rf, dense)
    return _report(spec, model, depth, platform, costs, layer_costs, rf, dense)


def _report(
    spec: Spec,
    model: Any,
    depth: int | None,
    platform: str,
    costs: bool,
    layer_costs: bool,
    rf: bool,
    dense: bool = False,
) -> InspectReport:
    import dataclasses

    _, leaves = module_rows(model)
    params, param_notes = measured_summary(model, leaves, spec.input_shape, spec.input.dtype)
    param_notes += tuple(explain(bank) for bank in params.banks)
    output_shape, rows, calls = _forward(spec, model, dense)
    flops = memory = None
    rf_done = None
    if costs:
        batch = spec.input.batch_size
        batch_in = (batch, *spec.input_shape)
        batch_out = (batch, *output_shape)
        with on_platform(platform):
            forward = forward_program(model, batch_in, spec.input.dtype, spec.source)
            train = train_step_program(model, batch_in, batch_out, spec.input.dtype, spec.source)
            # Compilations run in threads (XLA releases the GIL) while the per-layer programs
            # are lowered here. The programs are never run, so the backend's code generation
            # is done at its lowest optimisation level: XLA's cost and memory analyses work on
            # the optimised HLO and buffer assignment, which that level does not change.
            pool = ThreadPoolExecutor(max_workers=2)
            try:
                compiled = [pool.submit(p.compile, COMPILE_OPTIONS) for p in (forward, train)]
                layer_flops = per_layer_flops(model, calls, spec.input.dtype) if layer_costs else {}
                if rf:  # the RF analysis also overlaps the compilations
                    rf_done = receptive_fields_or_note(spec, model)
                forward_c, train_c = (f.result() for f in compiled)
            finally:
                # Never wait here: on success both are done; on an error or Ctrl-C a compilation
                # still running cannot be cancelled, and waiting would delay the exit by it.
                pool.shutdown(wait=False, cancel_futures=True)
        total = xla_flops(forward_c.cost_analysis())
        flops = FlopsReport(forward=total, per_sample=total // batch, batch_size=batch)
        layer_flops[""] = total // batch  # the root: the whole compiled program, per sample
        rows = [dataclasses.replace(r, flops=layer_flops.get(r.path)) for r in rows]
        memory = MemoryReport(
            param_bytes=params.bytes,
            param_bytes_by_dtype=dict(params.bytes_by_dtype),
            activation_bytes=activation_bytes(calls, leaf_paths(rows), batch),
            forward=xla_memory(forward_c),
            train_step=xla_memory(train_c),
        )
    if rf_done is None:
        rf_done = receptive_fields_or_note(spec, model) if rf else (None, {}, ())
    rf_result, layer_rf, notes = rf_done
    if layer_rf:
        rows = [dataclasses.replace(r, rf=layer_rf.get(r.path)) for r in rows]
    return InspectReport(
        name=spec.name,
        spec=spec.source,
        family=spec.family,
        target=spec.target,
        platform=platform,
        input_shape=spec.input_shape,
        output_shape=output_shape,
        batch_size=spec.input.batch_size,
        dtype=spec.input.dtype,
        params=params,
        layers=tuple(fold_layers(rows, depth)),
        depth=depth,
        flops=flops,
        memory=memory,
        receptive_field=rf_result,
        notes=tuple(param_notes) + tuple(notes),
        full=costs,
    )
