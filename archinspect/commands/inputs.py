"""Command-line inputs turned into what the use cases take: value lists, exact limits, spec
paths, spec loaders. Pure and testable without the CLI; a bad input is a UsageError naming
the option (the CLI prints it and exits 2)."""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from archinspect import metrics as registry
from archinspect.errors import ArchinspectError, UsageError, user_error
from archinspect.spec.messages import brief_repr
from archinspect.spec.model import Spec
from archinspect.spec.numbers import amount_problem, parse_amount

SpecLoader = Callable[[list[str]], Spec]


def option_name(key: str) -> str:
    """'max_params' -> '--max-params'."""
    return "--" + key.replace("_", "-")


def parse_values(raw: str) -> list[Any]:
    """'4,8,16' -> [4, 8, 16]; '[32,32],[64,64]' -> [[32, 32], [64, 64]] (YAML rules, with the
    spec files' limits on size, nesting and digits)."""
    from archinspect.spec.document import parse_document

    doc = parse_document("[" + raw + "]", "--values")
    values = doc.data
    if doc.problems or not isinstance(values, list) or not values:
        why = f" ({doc.problems[0].message})" if doc.problems else ""
        raise UsageError(
            "error: --values expects a comma-separated list like 4,8,16; "
            f"got {brief_repr(raw)}{why}"
        )
    return values


def parse_amounts(options: dict[str, str | None]) -> dict[str, int]:
    """Exact limits from --max-* options ("10k", "1.5M", "2e6"), keyed by limit key (see
    archinspect.metrics.LIMITS); options not given are left out; a bad one is a usage error
    naming its option."""
    out: dict[str, int] = {}
    for key, raw in options.items():
        if raw is None:
            continue
        problem = amount_problem(raw)
        amount = parse_amount(raw)
        if problem is not None or amount is None:
            raise UsageError(f"error: {option_name(key)} {problem}")
        out[key] = amount
    return out


def max_memory(raw: str | None) -> int:
    """--max-memory in bytes (an amount: '4Gi', '512Mi', '8G'); default MEMORY_LIMIT."""
    from archinspect.limits import MEMORY_LIMIT

    return parse_amounts({"max_memory": raw}).get("max_memory", MEMORY_LIMIT)


def refuse_above(source: str, needed: int, limit: int, command: str, what: str, lower: str) -> None:
    """The one refusal of a run whose estimated memory is above --max-memory: the size it would
    need, what that size is made of, and what to lower."""
    if needed > limit:
        raise UsageError(
            f"error: {source}: {command} needs about {needed:,} bytes ({what}), above the limit "
            f"of {limit:,} bytes; {lower} or raise --max-memory"
        )


def per_axis_overrides(**bounds: int | None) -> dict[str, int]:
    """--min-rf/--max-rf -> {'receptive_field.min': ..., 'receptive_field.max': ...}: the
    budget keys of check's per-axis limits, for each given option (keyword: min_rf, max_rf)."""
    out: dict[str, int] = {}
    for metric in registry.METRICS:
        if not metric.per_axis or metric.option is None:
            continue
        for bound in registry.BOUNDS:
            value = bounds.get(f"{bound}_{metric.option}")
            if value is not None:
                out[f"{metric.budget}.{bound}"] = value
    return out


def solve_limits(amounts: dict[str, str | None], min_rf: int | None) -> dict[str, int]:
    """The limits of `solve` (parsed amounts, then the minimum receptive field); at least one."""
    limits = parse_amounts(amounts)
    if min_rf is not None:
        limits["min_rf"] = min_rf
    if not limits:
        options = [*(option_name(k) for k in amounts), "--min-rf"]
        raise UsageError(f"error: solve needs a limit: {', '.join(options[:-1])} or {options[-1]}")
    return limits


def expand_specs(patterns: Iterable[str]) -> list[str]:
    """Spec paths, expanding globs the shell did not (quoted patterns in CI configs)."""
    paths: list[str] = []
    for pattern in patterns:
        if any(ch in pattern for ch in "*?[") and not os.path.exists(pattern):
            matches = sorted(set(_glob(pattern)))
            if not matches:
                raise UsageError(f"error: no spec file matches {pattern!r}")
            paths += matches
        else:
            paths.append(pattern)
    return list(dict.fromkeys(paths))


def _glob(pattern: str) -> list[str]:
    """glob.glob(pattern, recursive=True), except that `**` never descends into a symbolic
    link to a directory. glob follows them: two links to `..` in a pull request make
    `check "configs/**/*.yaml"` visit 2**40 directories, and a link that leaves the tree
    would be refused when read anyway (archinspect.spec.files)."""
    head, sep, rest = pattern.partition("**")
    whole = (not head or head.endswith(os.sep)) and (not rest or rest.startswith(os.sep))
    if not sep or not whole:  # no `**` segment (a `**` inside a name is a `*` to glob)
        return glob.glob(pattern)
    roots = glob.glob(head) if head else [""]
    found: list[str] = []
    for root in roots:
        if not os.path.isdir(root or "."):
            continue
        for directory, subdirs, files in os.walk(root or ".", followlinks=False):
            subdirs[:] = [d for d in subdirs if not d.startswith(".")]  # as glob does
            where = directory if root else os.path.relpath(directory)
            prefix = "" if where == "." else os.path.join(where, "")
            if rest:
                found += _glob(glob.escape(prefix) + rest.lstrip(os.sep))
                continue
            if where != ".":  # a trailing `**`: every file and directory, as glob lists them
                found.append(root if directory == root else where)
            found += [prefix + name for name in files if not name.startswith(".")]
    return found


def spec_loader(
    spec: str | None,
    overrides: Iterable[str] | None,
    follow_symlinks: bool = False,
    frozen: Iterable[str] = (),
) -> SpecLoader:
    """A function that loads the spec (or the fallback, see archinspect.spec.load_spec) with
    `overrides` and then extra ones (a sweep's or solve's values win), and the `--frozen`
    patterns."""
    from archinspect.spec import load_spec
    from archinspect.spec.files import STDIN, read_spec_stdin

    given = list(overrides or [])
    patterns = tuple(frozen)
    text = read_spec_stdin() if spec == STDIN else None  # standard input is read once
    return lambda extra: load_spec(
        spec, [*given, *extra], follow_symlinks, patterns, stdin_text=text
    )


def load_each(
    paths: Iterable[str],
    overrides: Iterable[str] | None,
    follow_symlinks: bool = False,
    *,
    raise_bugs: bool = False,
    frozen: Iterable[str] = (),
) -> list[tuple[str, Spec | ArchinspectError]]:
    """Every spec loaded, or the error that stopped it (`check` reports them all). A bug met
    while loading one spec is recorded as an InternalError too, unless `raise_bugs` (--debug)."""
    from archinspect.spec import load_spec
    from archinspect.spec.files import STDIN, STDIN_SOURCE

    loaded: list[tuple[str, Spec | ArchinspectError]] = []
    for given in paths:
        path = STDIN_SOURCE if given == STDIN else given  # as messages name it
        try:
            spec = load_spec(given, list(overrides or []), follow_symlinks, tuple(frozen))
            loaded.append((path, spec))
        except ArchinspectError as exc:
            loaded.append((path, exc))
        except Exception as exc:
            if raise_bugs:
                raise
            loaded.append((path, user_error(exc, path)))
    return loaded


def check_sweep_options(params: list[str], values: list[str] | None, plot: str | None) -> None:
    """The sweep's option combinations that are wrong before any spec is read."""
    if not params:
        raise UsageError("error: sweep needs at least one --param, e.g. --param hidden_channels")
    if values is not None and len(values) > len(params):
        raise UsageError("error: more --values than --param options")
    if plot is not None:
        if not plot.endswith((".png", ".svg")):
            raise UsageError(f"error: --plot writes .png or .svg files, got {plot!r}")


def sweep_metrics(raw: str | None) -> tuple[str, ...]:
    """The metrics of a sweep: those of every row, then the --metrics ones (comma-separated)."""
    extra = [m.strip() for m in (raw or "").split(",") if m.strip()]
    for m in extra:
        if m not in registry.SWEEP_ON_REQUEST:
            raise UsageError(
                f"error: --metrics takes {', '.join(registry.SWEEP_ON_REQUEST)}; got {m!r}"
            )
    return (*registry.SWEEP_ALWAYS, *extra)


@dataclass(frozen=True)
class SweepPlan:
    params: list[str]
    values: list[list[Any]]  # one list per param
    metrics: tuple[str, ...]

    @property
    def total(self) -> int:
        total = 1
        for v in self.values:
            total *= len(v)
        return total


def plan_sweep(
    base: Spec,
    params: list[str],
    values: list[str] | None,
    metrics: tuple[str, ...],
    trusted: Iterable[str] = (),
) -> SweepPlan:
    """Check the params against the spec and find each one's values (flag, spec, default)."""
    from archinspect.commands.sweep import check_params, values_for

    check_params(base, list(params), trusted)
    given = [parse_values(v) for v in (values or [])]
    value_lists = [
        values_for(p, base, given[i] if i < len(given) else None) for i, p in enumerate(params)
    ]
    return SweepPlan(list(params), value_lists, metrics)
