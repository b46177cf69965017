"""`solve`: the largest value of one parameter within maximum limits (or the smallest that
meets a minimum receptive field), by exponential then binary search over a metric that grows
monotonically with the parameter. Every probe is a full, exact measurement."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from archinspect import metrics as registry
from archinspect.errors import ArchinspectError, UsageError
from archinspect.limits import SOLVE_MAX_EVALUATIONS, SOLVE_MAX_VALUE, SOLVE_TIME_LIMIT
from archinspect.report import Probe, SolveResult
from archinspect.spec.model import Spec

SEARCH_CAP = 2**40  # no architecture argument is searched beyond this


@dataclass(frozen=True)
class SearchBounds:
    """How far one search may go (`--max-value`, `--max-evaluations`, `--time-limit`): every
    probe builds and measures a whole model, so a limit that no value reaches (a 1T budget on
    depth) would otherwise probe ever larger models until memory or patience ran out. The time
    is checked before each probe; one probe is never cut short, so a probe that would end past
    the limit is not started: its time is predicted from the last probe's, scaled by the ratio
    of their values (a deeper or wider model costs at least in proportion)."""

    max_value: int = SOLVE_MAX_VALUE
    max_evaluations: int = SOLVE_MAX_EVALUATIONS
    time_limit: float | None = SOLVE_TIME_LIMIT


class _Stopped(Exception):
    """A search bound was reached before the answer; `at` is the last probe worth showing."""

    def __init__(self, bound: str, at: Probe, probes: int):
        super().__init__(bound)
        self.bound = bound
        self.at = at
        self.probes = probes


def solve(
    spec_loader: Callable[[list[str]], Spec],
    base: Spec,
    param: str,
    limits: dict[str, int],
    *,
    lowest: int = 1,
    trusted: Iterable[str] = (),
    platform: str | None = None,
    bounds: SearchBounds = SearchBounds(),
) -> SolveResult:
    """`limits` maps limit keys of archinspect.metrics (max_params, max_flops, min_rf, ...) to
    numbers; with a minimum (at most one), the smallest value meeting it is searched. A search
    that reaches one of `bounds` first has no answer (value None) and says which bound."""
    check_solvable(base, param, trusted)
    if lowest > bounds.max_value:
        raise UsageError(
            f"error: --lowest {lowest:,} is above --max-value {bounds.max_value:,}: nothing "
            "would be searched; lower --lowest or raise --max-value"
        )
    try:
        return _search(spec_loader, base, param, limits, lowest, trusted, platform, bounds)
    except _Stopped as stop:
        from archinspect.commands.sweep import display_name

        key = [k for k in limits if registry.limit(k)[1] == "min"]
        return SolveResult(
            base.name,
            base.source,
            display_name(param),
            "smallest" if key else "largest",
            limits,
            None,
            None,
            stop.at.value,
            stop.at.metrics,
            stop.at.violated,
            stop.probes,
            stop.at.error,
            stop.bound,
        )


def _search(
    spec_loader: Callable[[list[str]], Spec],
    base: Spec,
    param: str,
    limits: dict[str, int],
    lowest: int,
    trusted: Iterable[str],
    platform: str | None,
    search: SearchBounds,
) -> SolveResult:
    from archinspect.commands.measure import measure
    from archinspect.commands.sweep import display_name, spec_key

    started = time.monotonic()
    bounds = {k: registry.limit(k) for k in limits}
    minima = [k for k, (_, bound) in bounds.items() if bound == "min"]
    if len(minima) > 1:
        raise ValueError(f"solve takes at most one minimum, got {minima}")
    metrics = list(dict.fromkeys(name for name, _ in bounds.values()))
    order = sorted(limits, key=lambda k: bounds[k][1] == "min")  # maxima first, then the minimum
    # The forward pass is traced too, so a value whose config cannot run (an FNO with more
    # modes than the resolution holds, a UNet too deep for it) is never an answer.
    metrics.append("output_shape")
    cache: dict[int, Probe] = {}
    last: list[Probe] = []  # the last probe measured, shown when a bound stops the search
    took: list[tuple[int, float]] = []  # (value, seconds) of the last probe measured

    def stop(bound: str, at: Probe | None = None) -> _Stopped:
        return _Stopped(bound, at or last[-1], len(cache))

    def probe(v: int) -> Probe:
        if v not in cache:
            if len(cache) >= search.max_evaluations:
                raise stop(f"--max-evaluations {search.max_evaluations:,}")
            elapsed = time.monotonic() - started
            if search.time_limit is not None and cache and elapsed >= search.time_limit:
                raise stop(f"--time-limit {search.time_limit:g}s ({elapsed:.0f}s spent)")
            if search.time_limit is not None and took:
                before, seconds = took[-1]
                predicted = seconds * max(1.0, v / before) if before > 0 else seconds
                if elapsed + predicted > search.time_limit:
                    raise stop(
                        f"--time-limit {search.time_limit:g}s ({elapsed:.0f}s spent; "
                        f"{display_name(param)}={v} would take about {predicted:.0f}s more, "
                        f"from {display_name(param)}={before}'s {seconds:.0f}s)"
                    )
            began = time.monotonic()
            try:
                spec = spec_loader([f"{spec_key(param)}={v}"])
                measured = measure(spec, metrics, trusted=trusted, platform=platform)
                took.append((v, time.monotonic() - began))
            except ArchinspectError as exc:
                if v == lowest:
                    # Nothing was measured yet: the spec itself fails (a target whose forward
                    # pass raises, a resolution the model cannot take), not a limit. Its error,
                    # as every command says it (exit 2), instead of "no value fits" (exit 1).
                    raise
                cache[v] = Probe(v, {}, False, ("a valid config",), exc.message)
                last.append(cache[v])
                return cache[v]
            measured.pop("output_shape", None)
            violated = tuple(
                k for k in order if not registry.within(k, measured[bounds[k][0]], limits[k])
            )
            cache[v] = Probe(v, measured, not violated, violated)
            last.append(cache[v])
        return cache[v]

    if minima:
        key = minima[0]
        name = bounds[key][0]
        # the smallest value whose metric (the receptive field) reaches the minimum
        hi = lowest
        previous = None
        while key in probe(hi).violated:
            reach = registry.bounded(name, probe(hi).metrics[name], "min")
            if hi >= SEARCH_CAP or (previous is not None and reach <= previous and hi > 4):
                raise ArchinspectError(
                    f"error: the {registry.label(name)} does not grow with {display_name(param)} "
                    f"(still {reach:g} at {display_name(param)}={hi}); no value reaches "
                    f"{limits[key]}"
                )
            if hi >= search.max_value:
                raise stop(f"--max-value {search.max_value:,}", probe(hi))
            previous = reach
            hi = min(hi * 2 if hi > 0 else 1, search.max_value)
        lo = hi // 2 if hi > lowest else lowest - 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if key in probe(mid).violated:
                lo = mid
            else:
                hi = mid
        found = probe(hi)
        if not found.ok:
            return _none(base, param, "smallest", limits, found, len(cache))
        below = probe(hi - 1) if hi - 1 >= lowest else None
        return SolveResult(
            base.name,
            base.source,
            display_name(param),
            "smallest",
            limits,
            hi,
            found.metrics,
            below.value if below else None,
            below.metrics if below else None,
            below.violated if below else (),
            len(cache),
        )

    first = probe(lowest)
    if not first.ok:
        return _none(base, param, "largest", limits, first, len(cache))
    lo, hi = lowest, min(lowest * 2 if lowest > 0 else 1, search.max_value)
    while probe(hi).ok:
        if hi >= search.max_value:
            raise stop(f"--max-value {search.max_value:,}", probe(hi))
        if hi > 4 and probe(hi).metrics == probe(lo).metrics:
            raise ArchinspectError(
                f"error: the limited metrics do not grow with {display_name(param)} "
                f"(the same at {display_name(param)}={lo} and {hi}); no largest value exists"
            )
        if hi >= SEARCH_CAP:
            raise ArchinspectError(
                f"error: {param} can grow past {SEARCH_CAP:,} within these limits; "
                "is the metric really growing with it?"
            )
        lo, hi = hi, min(hi * 2, search.max_value)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if probe(mid).ok:
            lo = mid
        else:
            hi = mid
    found, nxt = probe(lo), probe(hi)
    return SolveResult(
        base.name,
        base.source,
        display_name(param),
        "largest",
        limits,
        lo,
        found.metrics,
        hi,
        nxt.metrics,
        nxt.violated,
        len(cache),
        nxt.error,
    )


SOLVABLE_INPUT = ("input.resolution", "input.batch_size")


def solvable(spec: Spec) -> list[str]:
    """The arguments of a built-in family that `solve` can search: those whose kind takes any
    large integer (not booleans, names, rates, lists, or a few allowed values), and the input's
    resolution and batch size."""
    from archinspect.families import FAMILIES

    args = FAMILIES[spec.family].all_args
    return [a.name for a in args if a.kind.check(1024) is None and a.kind.check(1025) is None] + [
        *SOLVABLE_INPUT
    ]


def check_solvable(spec: Spec, param: str, trusted: Iterable[str] = ()) -> None:
    """Refuse, before any probe, a --param that is not an integer: an argument the model does
    not have (worded as `sweep` words it), one of another kind (a bool, a name), or a value in
    the spec that is no integer."""
    from archinspect.build.arguments import no_argument
    from archinspect.commands.sweep import check_params, display_name, spec_key
    from archinspect.families import FAMILIES
    from archinspect.spec.messages import yaml_repr
    from archinspect.spec.overrides import parse_key

    short = display_name(param)
    if short in SOLVABLE_INPUT:
        return
    head = f"error: --param {short}: "
    plain = "[" not in short and ("." not in short or short.startswith("input."))
    if spec.target is None and plain:
        family = FAMILIES[spec.family]
        arg = family.arg(short)
        names = solvable(spec)
        if arg is None:
            candidates = [*(a.name for a in family.all_args), *SOLVABLE_INPUT]
            listing = f"solvable: {', '.join(names)}"
            raise UsageError(head + no_argument(spec, short, candidates, listing))
        if short not in names:
            raise UsageError(
                f"{head}solve searches integer values, but {spec.family}'s {short} is of type "
                f"{arg.type_name()} (solvable: {', '.join(names)})"
            )
        return
    check_params(
        spec, [param], trusted, label="it takes"
    )  # a misspelt nested key or a missing index, as `sweep` words it
    value: Any = spec.args
    for part in (parse_key(spec_key(param)) or [])[1:]:
        inside = isinstance(value, dict) and part in value
        inside |= isinstance(value, list) and isinstance(part, int) and part < len(value)
        if not inside:
            return  # not in the spec: a target's default, for its constructor to judge
        value = value[part]
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(
            f"{head}solve searches integer values, but {short} is {yaml_repr(value)} in the spec"
        )


def _none(
    base: Spec, param: str, direction: str, limits: dict[str, int], at: Probe, probes: int
) -> SolveResult:
    from archinspect.commands.sweep import display_name

    return SolveResult(
        base.name,
        base.source,
        display_name(param),
        direction,
        limits,
        None,
        None,
        at.value,
        at.metrics,
        at.violated,
        probes,
    )
