"""Spec -> InitReport: real weights (seeded, drawn as `init:` says), a random batch, the signal
at every conv and dense layer, and the verdict (README "Signal propagation at initialization").

The memory the run needs is estimated on the abstract model first, and the run is refused
above the limit, before any weight is allocated.
"""

from __future__ import annotations

from collections.abc import Iterable

from archinspect.errors import UsageError
from archinspect.limits import MEMORY_LIMIT
from archinspect.report import InitReport
from archinspect.spec.model import Spec


def describe(spec: Spec) -> str:
    init = spec.init
    if init.default:
        return "the family's own initializer" if spec.target is None else "the target's own"
    how = (
        "N(0, 1), scaled by w_std/sqrt(fan_in) in the layer (ntk)"
        if init.parameterization == "ntk"
        else "N(0, w_std²/fan_in)"
    )
    return f"weights {how}, w_std={init.w_std:g}; biases N(0, b_std²), b_std={init.b_std:g}"


def init_report(
    spec: Spec,
    trusted: Iterable[str] = (),
    *,
    batch: int = 8,
    seed: int = 0,
    max_bytes: int = MEMORY_LIMIT,
) -> InitReport:
    from archinspect.analysis import init_stats
    from archinspect.build import build_abstract
    from archinspect.build.concrete import size_text
    from archinspect.build.faults import blame_model
    from archinspect.build.init_weights import draw, layer_paths

    if batch < 2:
        raise UsageError(
            f"error: --batch must be at least 2 (the correlation compares two inputs), got {batch}"
        )
    shape = spec.input_shape
    dtype = spec.input.dtype
    if not dtype.startswith(("float", "bfloat")):
        raise UsageError(
            f"error: {spec.source}: archinspect init feeds random N(0, 1) inputs, so "
            f"input.dtype must be floating, got {dtype}"
        )
    abstract = build_abstract(spec, trusted)
    layers = layer_paths(abstract)
    if len(layers) < 2:
        raise UsageError(
            f"error: {spec.source}: archinspect init compares the signal across conv and dense "
            f"layers, and {spec.target or spec.family} has {len(layers)} "
            f"({', '.join(layers) or 'none'})"
        )
    with blame_model(spec, abstract):
        needed = init_stats.estimate_bytes(abstract, shape, dtype, batch)
    if needed > max_bytes:
        raise UsageError(
            f"error: {spec.source}: archinspect init needs about {needed:,} bytes "
            f"({size_text(needed)}: the weights, and the activations and their gradients for "
            f"{batch + 1} inputs of {'×'.join(map(str, shape))}), above the limit of "
            f"{max_bytes:,} bytes; lower --batch or input.resolution, or raise --max-memory"
        )
    model = build_abstract(spec, trusted, real_seed=seed)
    drawn = draw(model, spec.init, seed)
    with blame_model(spec, abstract):
        rows, out_shape = init_stats.measure(
            drawn.model, drawn.scale, drawn.layers, shape, dtype, batch, seed
        )
    v = init_stats.verdict(rows)
    notes = []
    if drawn.untouched and not spec.init.default:
        shown = ", ".join(drawn.untouched[:6]) + (" ..." if len(drawn.untouched) > 6 else "")
        notes.append(
            f"{len(drawn.untouched)} parameter arrays outside conv and dense layers keep the "
            f"constructor's values: {shown}"
        )
    return InitReport(
        name=spec.name,
        spec=spec.source,
        family=spec.target or spec.family,
        input_shape=shape,
        output_shape=out_shape,
        init=describe(spec),
        w_std=None if spec.init.default else spec.init.w_std,
        b_std=None if spec.init.default else spec.init.b_std,
        parameterization=spec.init.parameterization,
        batch=batch,
        seed=seed,
        layers=rows,
        verdict=v.verdict,
        rule=init_stats.RULE,
        exploding=v.exploding,
        vanishing=v.vanishing,
        std_ratio=v.std_ratio,
        chi=v.chi,
        estimated_bytes=needed,
        notes=tuple(notes),
    )
