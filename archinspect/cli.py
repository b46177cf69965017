"""Command-line interface. The only module that prints to the terminal or exits.

Heavy imports (JAX, Equinox, the analyses) happen inside the commands that need them, so
`--help`, `families`, `schema` and spec validation stay fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any

import typer

from archinspect import __version__

EXIT_BUDGET = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3

app = typer.Typer(
    name="archinspect",
    help="Exact, abstract architecture inspection for JAX/Equinox networks: parameters, "
    "receptive fields, shapes, FLOPs, memory.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


SpecArg = Annotated[
    str | None,
    typer.Argument(
        metavar="[SPEC]",
        help="spec file; default ./archinspect.yaml, else an embedded 2-D ClassicUNet",
        show_default=False,
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="override a spec key, e.g. --set model.hidden_channels=32 (repeatable)",
    ),
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="output format")]
OutputOpt = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        metavar="FILE",
        help="write the report to FILE (atomically) instead of stdout",
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"archinspect {__version__}")
        raise typer.Exit()


PlatformOpt = Annotated[
    str | None,
    typer.Option(
        "--platform",
        metavar="cpu|gpu|tpu",
        help="JAX backend for compiled analyses (FLOPs, memory); exit 2 if it is not present",
    ),
]
TrustOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--trust",
        metavar="PKG",
        help="also trust this top-level package for model.target imports (repeatable); "
        "archinspect, equinox and pdequinox are trusted by default",
    ),
]
DepthOpt = Annotated[
    int,
    typer.Option(
        "--depth",
        "-d",
        min=0,
        help="fold rows deeper than N into their parent (totals never change)",
    ),
]


RFOpt = Annotated[
    bool,
    typer.Option(
        "--rf/--no-rf",
        help="cumulative receptive field per layer and of the network (structural analysis)",
    ),
]


@app.callback()
def _main(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks on errors")] = False,
    platform: PlatformOpt = None,
) -> None:
    ctx.obj = {"debug": debug, "platform": platform}


def _run(ctx: typer.Context, body: Callable[[], Any]) -> Any:
    """Run a command body; turn archinspect's errors into a message and an exit code."""
    from archinspect.errors import ArchinspectError

    debug = bool(ctx.obj and ctx.obj.get("debug"))
    try:
        return body()
    except ArchinspectError as exc:
        if debug:
            raise
        typer.echo(exc.message, err=True)
        raise typer.Exit(exc.exit_code) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as exc:  # a bug: say so plainly, keep the traceback behind --debug
        if debug:
            raise
        typer.echo(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "(this is a bug in archinspect; run with --debug for the traceback)",
            err=True,
        )
        raise typer.Exit(EXIT_INTERNAL) from None


def _emit(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    from archinspect.output import write_atomic

    write_atomic(output, text)
    typer.echo(f"wrote {output}", err=True)


def _render(fmt: str, name: str, report: Any, output: str | None, **kwargs: Any) -> str:
    """Text of `report` by the renderer `archinspect.render.<fmt>.<name>_<fmt>`."""
    import importlib

    render = getattr(importlib.import_module(f"archinspect.render.{fmt}"), f"{name}_{fmt}")
    if fmt == "table":
        return render(report, width=_width(), color=_color(output), **kwargs)
    return render(report, **kwargs)


def _color(output: str | None) -> bool:
    return output is None and sys.stdout.isatty()


def _width() -> int:
    import shutil

    return max(shutil.get_terminal_size((120, 24)).columns, 80) if sys.stdout.isatty() else 120


def _load(spec: str | None, overrides: list[str] | None):
    from archinspect.spec import load_spec

    loaded = load_spec(spec, overrides or [])
    for note in loaded.notes:
        typer.echo(note, err=True)
    return loaded


@app.command()
def count(
    ctx: typer.Context,
    spec: SpecArg = None,
    set_: SetOpt = None,
    format: FormatOpt = Format.table,
    output: OutputOpt = None,
    depth: DepthOpt = 2,
    trust: TrustOpt = None,
    with_rf: Annotated[
        bool,
        typer.Option(
            "--rf",
            help="add the cumulative receptive field per module and of the network "
            "(off by default: counting stays a pure abstract build)",
        ),
    ] = False,
) -> None:
    """Count parameters exactly (total, learnable, materialized, by dtype and bytes), per module.

    The model is built abstractly with eqx.filter_eval_shape: no weight memory is allocated.
    """

    def body() -> None:
        loaded = _load(spec, set_)
        from archinspect.commands.count import count_report

        report = count_report(loaded, depth, trust or (), rf=with_rf)
        _emit(_render(format.value, "count", report, output), output)

    _run(ctx, body)


def _layers_command(
    ctx: typer.Context,
    spec: str | None,
    set_: list[str] | None,
    format: Format,
    output: str | None,
    depth: int,
    trust: list[str] | None,
    full: bool,
    with_rf: bool,
) -> None:
    def body() -> None:
        loaded = _load(spec, set_)
        from archinspect.commands.inspect import inspect_report

        report = inspect_report(
            loaded,
            depth=depth,
            trusted=trust or (),
            platform=ctx.obj.get("platform"),
            costs=full,
            rf=with_rf,
        )
        _emit(_render(format.value, "inspect", report, output, full=full), output)

    _run(ctx, body)


@app.command()
def shapes(
    ctx: typer.Context,
    spec: SpecArg = None,
    set_: SetOpt = None,
    format: FormatOpt = Format.table,
    output: OutputOpt = None,
    depth: DepthOpt = 2,
    trust: TrustOpt = None,
    with_rf: RFOpt = True,
) -> None:
    """Per-layer input and output shapes of the forward pass, for any Equinox module.

    Traced abstractly (no weights, nothing compiled); a module called several times is one
    row with its call count.
    """
    _layers_command(ctx, spec, set_, format, output, depth, trust, full=False, with_rf=with_rf)


@app.command()
def inspect(
    ctx: typer.Context,
    spec: SpecArg = None,
    set_: SetOpt = None,
    format: FormatOpt = Format.table,
    output: OutputOpt = None,
    depth: DepthOpt = 2,
    trust: TrustOpt = None,
    with_rf: RFOpt = True,
) -> None:
    """The full report: parameters, per-layer shapes and FLOPs, memory.

    FLOPs and memory are XLA's analyses of the forward pass and of a training step
    (value_and_grad of a mean squared error), compiled for --platform but never run.
    """
    _layers_command(ctx, spec, set_, format, output, depth, trust, full=True, with_rf=with_rf)


class RFMethod(str, Enum):
    structural = "structural"
    empirical = "empirical"
    both = "both"


@app.command()
def rf(
    ctx: typer.Context,
    spec: SpecArg = None,
    set_: SetOpt = None,
    method: Annotated[
        RFMethod,
        typer.Option(
            "--method",
            "-m",
            help="structural (dependency analysis of the traced program), empirical (gradients "
            "of a positive linear float64 copy), or both (they must agree; for the built-in "
            "families the analytic composition too)",
        ),
    ] = RFMethod.structural,
    format: FormatOpt = Format.table,
    output: OutputOpt = None,
    trust: TrustOpt = None,
) -> None:
    """Exact receptive field per spatial axis and direction, its range over output positions,
    and whether any output is coupled to every input (norms, FFTs, dense layers over space)."""

    def body() -> None:
        loaded = _load(spec, set_)
        from archinspect.commands.rf import rf_report

        report = rf_report(loaded, method=method.value, trusted=trust or ())
        _emit(_render(format.value, "rf", report, output), output)

    _run(ctx, body)


def _spec_loader(spec: str | None, set_: list[str] | None):
    """A function that loads the spec with extra overrides (the sweep's values win)."""
    from archinspect.spec import load_spec

    return lambda extra: load_spec(spec, [*(set_ or []), *extra])


def _parse_values(raw: str) -> list:
    """'4,8,16' -> [4, 8, 16]; '[32,32],[64,64]' -> [[32, 32], [64, 64]] (YAML rules)."""
    import yaml

    from archinspect.errors import UsageError

    try:
        values = yaml.safe_load("[" + raw + "]")
    except yaml.YAMLError:
        values = None
    if not isinstance(values, list) or not values:
        raise UsageError(f"error: --values expects a comma-separated list like 4,8,16; got {raw!r}")
    return values


@app.command()
def sweep(
    ctx: typer.Context,
    spec: SpecArg = None,
    param: Annotated[
        list[str],
        typer.Option(
            "--param",
            "-p",
            help="argument to sweep, e.g. hidden_channels or input.resolution; repeat for a "
            "grid (cartesian product)",
        ),
    ] = [],  # noqa: B006 - Typer reads the default, never mutates it
    values: Annotated[
        list[str] | None,
        typer.Option(
            "--values",
            "-v",
            help="values of the matching --param, e.g. 4,8,16 (else the spec's sweep: block, "
            "else a default range)",
        ),
    ] = None,
    metrics: Annotated[
        str | None,
        typer.Option(
            "--metrics",
            help="extra metrics: flops, memory (compiled, never run); comma-separated",
        ),
    ] = None,
    set_: SetOpt = None,
    format: FormatOpt = Format.table,
    output: OutputOpt = None,
    plot: Annotated[
        str | None,
        typer.Option("--plot", metavar="FILE", help="draw the sweep to FILE.png or FILE.svg"),
    ] = None,
    trust: TrustOpt = None,
) -> None:
    """Sweep arguments and fit the scaling law of every metric (params, receptive field, ...).

    Each row is validated and traced abstractly; invalid rows are kept with their error.
    """

    def body() -> None:
        from archinspect.commands.sweep import (
            CHEAP_METRICS,
            OPTIONAL_METRICS,
            run_sweep,
            values_for,
        )
        from archinspect.errors import UsageError

        if not param:
            raise UsageError(
                "error: sweep needs at least one --param, e.g. --param hidden_channels"
            )
        if values is not None and len(values) > len(param):
            raise UsageError("error: more --values than --param options")
        if plot is not None:
            if not plot.endswith((".png", ".svg")):
                raise UsageError(f"error: --plot writes .png or .svg files, got {plot!r}")
            if len(param) != 1:
                raise UsageError("error: --plot draws one-parameter sweeps; sweep one --param")
        extra = [m.strip() for m in (metrics or "").split(",") if m.strip()]
        for m in extra:
            if m not in OPTIONAL_METRICS:
                raise UsageError(f"error: --metrics takes {', '.join(OPTIONAL_METRICS)}; got {m!r}")
        loader = _spec_loader(spec, set_)
        base = loader([])
        for note in base.notes:
            typer.echo(note, err=True)
        from archinspect.commands.sweep import check_params

        check_params(base, list(param))
        given = [_parse_values(v) for v in (values or [])]
        value_lists = [
            values_for(p, base, given[i] if i < len(given) else None) for i, p in enumerate(param)
        ]
        wanted = (*CHEAP_METRICS, *extra)
        total = 1
        for v in value_lists:
            total *= len(v)
        progress_cm, callback = _progress(f"sweeping {' x '.join(param)}", total)
        with progress_cm:
            result = run_sweep(
                loader,
                base,
                list(param),
                value_lists,
                wanted,
                trusted=trust or (),
                platform=ctx.obj.get("platform"),
                progress=callback,
            )
        if plot is not None:
            from archinspect.render.plot import sweep_plot

            sweep_plot(result, plot)
            typer.echo(f"wrote {plot}", err=True)
        _emit(_render(format.value, "sweep", result, output), output)

    _run(ctx, body)


def _progress(label: str, total: int):
    """A Rich progress bar on stderr when it is a terminal; nothing when piped."""
    import contextlib

    if not sys.stderr.isatty():
        return contextlib.nullcontext(), None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = progress.add_task(label, total=total)
    return progress, lambda done, _total: progress.update(task, completed=done)


@app.command()
def solve(
    ctx: typer.Context,
    spec: SpecArg = None,
    param: Annotated[
        str, typer.Option("--param", "-p", help="integer argument to solve for")
    ] = "hidden_channels",
    max_params: Annotated[str | None, typer.Option("--max-params", metavar="N")] = None,
    max_flops: Annotated[str | None, typer.Option("--max-flops", metavar="N")] = None,
    max_memory: Annotated[str | None, typer.Option("--max-memory", metavar="N")] = None,
    min_rf: Annotated[
        int | None,
        typer.Option("--min-rf", min=0, help="smallest value whose RF reaches N on every side"),
    ] = None,
    lowest: Annotated[int, typer.Option("--lowest", min=0, help="smallest value to try")] = 1,
    set_: SetOpt = None,
    format: FormatOpt = Format.table,
    output: OutputOpt = None,
    trust: TrustOpt = None,
) -> None:
    """The largest value of --param within --max-params/--max-flops/--max-memory, or the
    smallest that reaches --min-rf; with the metric at the answer and at the next value."""

    def body() -> None:
        from archinspect.commands.solve import solve as run_solve
        from archinspect.errors import UsageError

        limits: dict[str, int] = _amounts(
            max_params=max_params, max_flops=max_flops, max_memory=max_memory
        )
        if min_rf is not None:
            limits["min_rf"] = min_rf
        if not limits:
            raise UsageError(
                "error: solve needs a limit: --max-params, --max-flops, --max-memory or --min-rf"
            )
        loader = _spec_loader(spec, set_)
        base = loader([])
        result = run_solve(
            loader,
            base,
            param,
            limits,
            lowest=lowest,
            trusted=trust or (),
            platform=ctx.obj.get("platform"),
        )
        _emit(_render(format.value, "solve", result, output), output)
        if result.value is None:
            raise typer.Exit(EXIT_BUDGET)

    _run(ctx, body)


class CheckFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    junit = "junit"
    github = "github"


def _amounts(**options: str | None) -> dict[str, int]:
    """Exact limits from --max-* options ("10k", "1.5M", "2e6"); a bad one is a usage error
    naming its option."""
    from archinspect.errors import UsageError
    from archinspect.spec.numbers import AMOUNT_HELP, parse_amount

    out: dict[str, int] = {}
    for key, raw in options.items():
        if raw is None:
            continue
        amount = parse_amount(raw)
        if amount is None:
            option = "--" + key.replace("_", "-")
            raise UsageError(f"error: {option} must be {AMOUNT_HELP}; got {raw!r}")
        out[key] = amount
    return out


def _expand(patterns: list[str]) -> list[str]:
    """Spec paths, expanding globs the shell did not (quoted patterns in CI configs)."""
    import glob
    import os

    from archinspect.errors import UsageError

    paths: list[str] = []
    for pattern in patterns:
        if any(ch in pattern for ch in "*?[") and not os.path.exists(pattern):
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                raise UsageError(f"error: no spec file matches {pattern!r}")
            paths += matches
        else:
            paths.append(pattern)
    return list(dict.fromkeys(paths))


@app.command()
def check(
    ctx: typer.Context,
    specs: Annotated[
        list[str], typer.Argument(metavar="SPEC...", help="spec files or glob patterns")
    ],
    set_: SetOpt = None,
    format: Annotated[
        CheckFormat, typer.Option("--format", "-f", help="output format")
    ] = CheckFormat.table,
    output: OutputOpt = None,
    trust: TrustOpt = None,
    max_params: Annotated[
        str | None, typer.Option("--max-params", metavar="N", help="e.g. 10k, 1.5M, 2e6")
    ] = None,
    max_learnable_params: Annotated[
        str | None, typer.Option("--max-learnable-params", metavar="N")
    ] = None,
    max_flops: Annotated[
        str | None, typer.Option("--max-flops", metavar="N", help="forward, whole batch")
    ] = None,
    max_param_bytes: Annotated[
        str | None, typer.Option("--max-param-bytes", metavar="N", help="e.g. 40M, 512Mi")
    ] = None,
    max_memory: Annotated[
        str | None,
        typer.Option("--max-memory", metavar="N", help="XLA peak bytes of a training step"),
    ] = None,
    min_rf: Annotated[
        int | None,
        typer.Option("--min-rf", min=0, help="receptive field, every axis and direction"),
    ] = None,
    max_rf: Annotated[int | None, typer.Option("--max-rf", min=0)] = None,
) -> None:
    """Enforce budgets (params, FLOPs, memory, receptive field): exit 1 when any is exceeded.

    Limits come from each spec's `budget:`; the --max-*/--min-rf options win over the file.
    Exit 0 when every budget holds, 1 when any is exceeded, 2 for a bad spec or usage.
    """

    def body() -> None:
        from archinspect.commands.check import check_specs
        from archinspect.errors import ArchinspectError
        from archinspect.spec import load_spec

        overrides: dict[str, object] = dict(
            _amounts(
                max_params=max_params,
                max_learnable_params=max_learnable_params,
                max_flops=max_flops,
                max_param_bytes=max_param_bytes,
                max_memory=max_memory,
            )
        )
        if min_rf is not None:
            overrides["receptive_field.min"] = min_rf
        if max_rf is not None:
            overrides["receptive_field.max"] = max_rf
        loaded: list = []
        for path in _expand(specs):
            try:
                loaded.append((path, load_spec(path, set_ or [])))
            except ArchinspectError as exc:
                loaded.append((path, exc))
        report = check_specs(
            loaded, overrides, trusted=trust or (), platform=ctx.obj.get("platform")
        )
        _emit(_render(format.value, "check", report, output), output)
        if format in (CheckFormat.table, CheckFormat.csv, CheckFormat.markdown):
            for _, message in report.errors:  # the formats that do not carry them
                typer.echo(message, err=True)
        if report.errors:
            raise typer.Exit(EXIT_BAD_INPUT)
        if report.exceeded:
            raise typer.Exit(EXIT_BUDGET)

    _run(ctx, body)


@app.command()
def families(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Argument(metavar="[NAME]", help="show one family's arguments"),
    ] = None,
    format: FormatOpt = Format.table,
    output: OutputOpt = None,
) -> None:
    """List the built-in families, or one family's arguments, types and defaults."""

    def body() -> None:
        from archinspect.errors import UsageError
        from archinspect.families import FAMILIES, names
        from archinspect.render import families as render
        from archinspect.spec.messages import did_you_mean

        if name is None:
            chosen = list(FAMILIES.values())
        elif name in FAMILIES:
            chosen = [FAMILIES[name]]
        else:
            raise UsageError(
                f"error: unknown family {name!r}{did_you_mean(name, names())} "
                f"(one of: {', '.join(names())})"
            )
        if format is Format.table:
            text = render.families_table(
                chosen, detail=name is not None, width=_width(), color=_color(output)
            )
        elif format is Format.json:
            text = render.families_json(chosen)
        elif format is Format.csv:
            text = render.families_csv(chosen)
        else:
            text = render.families_markdown(chosen)
        _emit(text, output)

    _run(ctx, body)


@app.command()
def schema(ctx: typer.Context, output: OutputOpt = None) -> None:
    """Print the JSON Schema of spec files (for editors, e.g. yaml-language-server)."""

    def body() -> None:
        from archinspect.render.json import dumps
        from archinspect.spec.schema import build_schema

        _emit(dumps(build_schema()), output)

    _run(ctx, body)


@app.command()
def validate(
    ctx: typer.Context,
    specs: Annotated[list[str], typer.Argument(metavar="SPEC...", help="spec files to check")],
    set_: SetOpt = None,
) -> None:
    """Check spec files without building anything (no JAX import); exit 2 if any is bad.

    Every problem of a file is reported at once.
    """

    def body() -> None:
        from archinspect.errors import ArchinspectError
        from archinspect.spec import load_spec

        failures = []
        for path in specs:
            try:
                load_spec(path, set_ or [])
                typer.echo(f"ok: {path}")
            except ArchinspectError as exc:
                failures.append(exc)
                typer.echo(exc.message, err=True)
        if failures:
            raise typer.Exit(EXIT_BAD_INPUT)

    _run(ctx, body)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
