"""Spec -> InitReport: real weights (seeded, drawn as `init:` says), a random batch, the signal
at every conv and dense layer, and the verdict (README "Signal propagation at initialization").

The memory the run needs is estimated on the abstract model first, and the run is refused
above the limit, before any weight is allocated.
"""

from __future__ import annotations

from collections.abc import Iterable

from archinspect.commands.inputs import refuse_above
from archinspect.errors import UsageError
from archinspect.limits import MEMORY_LIMIT
from archinspect.report import InitReport, MeanField, PhaseDiagram, PhasePoint
from archinspect.spec.model import InitSpec, Spec


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
        cost = init_stats.estimate(abstract, shape, dtype, batch)
    needed = cost.total
    refuse_above(
        spec.source,
        needed,
        max_bytes,
        "archinspect init",
        f"{size_text(needed)}: "
        + cost.describe(
            f"the activations and their gradients for {batch + 1} inputs of "
            f"{'×'.join(map(str, shape))}"
        ),
        "lower --batch, input.resolution or the model's widths and depth,",
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
        mean_field=mean_field_of(spec),
    )


# The grid of `init --phase-diagram`: 5 x 4 networks measured (one compilation serves them
# all: the same structure and shapes), the theory line on a fine grid of σ_b².
GRID_SW2 = (0.5, 1.25, 2.0, 2.75, 3.5)
GRID_SB2 = (0.0, 0.05, 0.1, 0.2)
LINE_SB2 = tuple(round(0.25 * i / 50, 6) for i in range(51))


def activation_of(spec: Spec) -> str | None:
    """The activation mean-field theory is computed for: the spec's `activation` argument."""
    from archinspect.analysis.mean_field import ACTIVATIONS

    name = spec.args.get("activation")
    return name if isinstance(name, str) and name in ACTIVATIONS else None


def mean_field_of(spec: Spec) -> MeanField | None:
    from archinspect.analysis.mean_field import fixed_points

    name = activation_of(spec)
    if name is None or spec.init.default:
        return None
    # to 12 digits: w_std = 1.4142135623730951 (sqrt 2 as YAML writes it) squares to
    # 2.0000000000000004, which the theory's exact boundary (ReLU at sigma_w^2 = 2) would put
    # on the exploding side
    return fixed_points(name, _variance(spec.init.w_std), _variance(spec.init.b_std))


def _variance(std: float) -> float:
    return float(f"{std * std:.12g}")


def phase_diagram(
    spec: Spec,
    trusted: Iterable[str] = (),
    *,
    batch: int = 8,
    seed: int = 0,
    max_bytes: int = MEMORY_LIMIT,
) -> PhaseDiagram:
    """The χ₁ = 1 line of the spec's activation and the verdict of the real network measured
    at every (σ_w², σ_b²) of the grid (weights drawn as `init:` says, w_std and b_std
    replaced)."""
    import dataclasses
    import math

    from archinspect.analysis.mean_field import critical_line

    name = activation_of(spec)
    if name is None:
        raise UsageError(
            f"error: {spec.source}: --phase-diagram draws mean-field theory for the model's "
            f"`activation` argument, and {spec.target or spec.family} has "
            + (
                f"activation {spec.args['activation']!r}, which the theory does not know"
                if "activation" in spec.args
                else "none"
            )
        )
    base = spec.init if not spec.init.default else InitSpec(default=False)
    points = []
    for sw2 in GRID_SW2:
        for sb2 in GRID_SB2:
            init = dataclasses.replace(base, w_std=math.sqrt(sw2), b_std=math.sqrt(sb2))
            report = init_report(
                dataclasses.replace(spec, init=init),
                trusted,
                batch=batch,
                seed=seed,
                max_bytes=max_bytes,
            )
            points.append(PhasePoint(sw2, sb2, report.verdict))
    return PhaseDiagram(name, LINE_SB2, tuple(critical_line(name, LINE_SB2)), tuple(points))
