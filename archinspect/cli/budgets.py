"""Commands over many specs or values: sweep, solve, check."""

# No `from __future__ import annotations` here: Typer reads the commands' signatures at
# every start, and a string annotation costs it an eval each (tests/test_cli_startup.py).
import sys
from enum import Enum
from typing import Annotated

import typer

from archinspect.cli.app import (
    EXIT_BAD_INPUT,
    EXIT_BUDGET,
    EXIT_INTERNAL,
    FollowOpt,
    Format,
    FormatOpt,
    FrozenOpt,
    NoCacheOpt,
    OutputOpt,
    PlatformOpt,
    SetOpt,
    SpecArg,
    TrustOpt,
    checked_output,
    emit,
    load_base,
    render,
    run,
    settings,
)
from archinspect.limits import SOLVE_MAX_EVALUATIONS, SOLVE_MAX_VALUE, SOLVE_TIME_LIMIT


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
            help="values of the matching --param, e.g. 4,8,16 (else the spec's sweep: block, "
            "else a default range)",
        ),
    ] = None,
    metrics: Annotated[
        str | None,
        typer.Option(
            "--metrics",
            help="extra metrics: flops, memory (compiled, never run), init_std, init_verdict "
            '(real weights, run: README "Signal propagation at initialization"); comma-separated',
        ),
    ] = None,
    set_: SetOpt = None,
    format: FormatOpt = Format.table,
    output: OutputOpt = None,
    plot: Annotated[
        str | None,
        typer.Option(
            "--plot",
            metavar="FILE",
            help="draw the sweep to FILE.png or FILE.svg",
            callback=checked_output,
        ),
    ] = None,
    trust: TrustOpt = None,
    follow_symlinks: FollowOpt = False,
    frozen: FrozenOpt = None,
    platform: PlatformOpt = None,
    no_cache: NoCacheOpt = False,  # read by `run` (cli/app.py) from the context
) -> None:
    """Sweep arguments and fit the scaling law of every metric (params, receptive field, ...).

    Each row is validated and traced abstractly; invalid rows are kept with their error.
    """

    def body() -> None:
        from archinspect.commands.inputs import check_sweep_options, plan_sweep, sweep_metrics

        check_sweep_options(list(param), values, plot)
        wanted = sweep_metrics(metrics)
        loader, base = load_base(spec, set_, follow_symlinks, frozen)
        from archinspect.commands.count import check_frozen

        check_frozen(base, trust or ())
        plan = plan_sweep(base, list(param), values, wanted, trust or ())
        from archinspect.commands.sweep import run_sweep

        progress_cm, callback = progress(f"sweeping {' x '.join(plan.params)}", plan.total)
        with progress_cm:
            result = run_sweep(
                loader,
                base,
                plan.params,
                plan.values,
                plan.metrics,
                trusted=trust or (),
                platform=settings(ctx).platform,
                progress=callback,
            )
        # The table first: a plot that cannot be drawn is refused after it (exit 2), and so
        # is a sweep none of whose points could be measured in full.
        emit(render(format.value, "sweep", result, output), output)
        if plot is not None:
            from archinspect import interrupt
            from archinspect.render.plot import sweep_plot

            interrupt.check()  # no file is written after Ctrl-C (see emit)
            sweep_plot(result, plot)
            typer.echo(f"wrote {plot}", err=True)
        if not any(row.complete for row in result.rows):
            typer.echo(result.rows[0].problem, err=True)
            raise typer.Exit(EXIT_BAD_INPUT)

    run(ctx, body)


def progress(label: str, total: int):
    """A Rich progress bar on stderr when it is a terminal; nothing when piped."""
    import contextlib

    from archinspect.cli.streams import isatty

    if not isatty(sys.stderr):
        return contextlib.nullcontext(), None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(label, total=total)
    return bar, lambda done, _total: bar.update(task, completed=done)


def solve(
    ctx: typer.Context,
    spec: SpecArg = None,
    param: Annotated[
        str, typer.Option("--param", "-p", help="integer argument to solve for")
    ] = "hidden_channels",
    max_params: Annotated[
        str | None,
        typer.Option("--max-params", metavar="N", help="parameter budget, e.g. 10k, 1.5M, 2e6"),
    ] = None,
    max_flops: Annotated[
        str | None,
        typer.Option("--max-flops", metavar="N", help="FLOPs budget of the forward pass (XLA)"),
    ] = None,
    max_memory: Annotated[
        str | None,
        typer.Option(
            "--max-memory", metavar="N", help="peak bytes of a training step (XLA), e.g. 8Gi"
        ),
    ] = None,
    min_rf: Annotated[
        int | None,
        typer.Option("--min-rf", min=0, help="smallest value whose RF reaches N on every side"),
    ] = None,
    lowest: Annotated[int, typer.Option("--lowest", min=0, help="smallest value to try")] = 1,
    max_value: Annotated[
        int,
        typer.Option(
            "--max-value",
            min=1,
            help="largest value to try; a search that gets there has no answer (exit 1)",
        ),
    ] = SOLVE_MAX_VALUE,
    max_evaluations: Annotated[
        int,
        typer.Option(
            "--max-evaluations",
            min=1,
            help="most models to build and measure; past it the search has no answer (exit 1)",
        ),
    ] = SOLVE_MAX_EVALUATIONS,
    time_limit: Annotated[
        float,
        typer.Option(
            "--time-limit",
            min=0,
            metavar="SECONDS",
            help="start no evaluation after this many seconds; 0: no limit",
        ),
    ] = SOLVE_TIME_LIMIT,
    set_: SetOpt = None,
    format: FormatOpt = Format.table,
    output: OutputOpt = None,
    trust: TrustOpt = None,
    follow_symlinks: FollowOpt = False,
    frozen: FrozenOpt = None,
    platform: PlatformOpt = None,
    no_cache: NoCacheOpt = False,  # read by `run` (cli/app.py) from the context
) -> None:
    """The largest value of --param within a budget, or the smallest that reaches --min-rf.

    The budget is --max-params, --max-flops or --max-memory; the report shows the metric at the
    answer and at the next value.
    """

    def body() -> None:
        from archinspect.commands.inputs import solve_limits
        from archinspect.commands.solve import SearchBounds
        from archinspect.commands.solve import solve as run_solve

        limits = solve_limits(
            {"max_params": max_params, "max_flops": max_flops, "max_memory": max_memory}, min_rf
        )
        loader, base = load_base(spec, set_, follow_symlinks, frozen)
        from archinspect.commands.count import check_frozen

        check_frozen(base, trust or ())
        result = run_solve(
            loader,
            base,
            param,
            limits,
            lowest=lowest,
            trusted=trust or (),
            platform=settings(ctx).platform,
            bounds=SearchBounds(max_value, max_evaluations, time_limit or None),
        )
        emit(render(format.value, "solve", result, output), output)
        if result.value is None:
            raise typer.Exit(EXIT_BUDGET)

    run(ctx, body)


class CheckFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    junit = "junit"
    github = "github"


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
    follow_symlinks: FollowOpt = False,
    frozen: FrozenOpt = None,
    max_params: Annotated[
        str | None, typer.Option("--max-params", metavar="N", help="e.g. 10k, 1.5M, 2e6")
    ] = None,
    max_learnable_params: Annotated[
        str | None,
        typer.Option(
            "--max-learnable-params", metavar="N", help="parameters not matched by --frozen"
        ),
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
    max_rf: Annotated[
        int | None,
        typer.Option("--max-rf", min=0, help="receptive field, every axis and direction, at most"),
    ] = None,
    summary: Annotated[
        str | None,
        typer.Option(
            "--summary",
            metavar="FILE",
            help='also append the report as Markdown to FILE (e.g. "$GITHUB_STEP_SUMMARY"), '
            "whatever --format prints",
        ),
    ] = None,
    no_flops: Annotated[
        bool,
        typer.Option(
            "--no-flops",
            help="measure no FLOPs: a spec with a max_flops budget is then an error (exit 2)",
        ),
    ] = False,
    no_memory: Annotated[
        bool,
        typer.Option(
            "--no-memory",
            help="compile no training step: a spec with a max_memory budget is then an error "
            "(exit 2)",
        ),
    ] = False,
    require_budget: Annotated[
        bool,
        typer.Option(
            "--require-budget",
            help="fail (exit 1) when a spec has no limit at all, in the file or on the command "
            "line; without it such a spec is only a warning",
        ),
    ] = False,
    platform: PlatformOpt = None,
    no_cache: NoCacheOpt = False,  # read by `run` (cli/app.py) from the context
) -> None:
    """Enforce budgets (params, FLOPs, memory, receptive field): exit 1 when any is exceeded.

    Limits come from each spec's `budget:`; the --max-*/--min-rf options win over the file.
    Every spec is reported, even when others are bad. Exit 0 when every budget holds, 1 when
    any is exceeded (or, with --require-budget, a spec has none), 2 when a spec could not be
    checked or for bad usage, 3 when archinspect met a bug on a spec; the highest one wins.
    """

    def body() -> None:
        from archinspect.commands.check import check_specs
        from archinspect.commands.inputs import (
            expand_specs,
            load_each,
            parse_amounts,
            per_axis_overrides,
        )

        overrides: dict[str, object] = {
            **parse_amounts(
                {
                    "max_params": max_params,
                    "max_learnable_params": max_learnable_params,
                    "max_flops": max_flops,
                    "max_param_bytes": max_param_bytes,
                    "max_memory": max_memory,
                }
            ),
            **per_axis_overrides(min_rf=min_rf, max_rf=max_rf),
        }
        from archinspect.render.check_text import no_budget_message

        debug = settings(ctx).debug
        loaded = load_each(
            expand_specs(specs), set_, follow_symlinks, raise_bugs=debug, frozen=frozen or ()
        )
        report = check_specs(
            loaded,
            overrides,
            trusted=trust or (),
            platform=settings(ctx).platform,
            require_budget=require_budget,
            raise_bugs=debug,
            skipped={
                name: flag
                for name, flag, on in (
                    ("flops", "--no-flops", no_flops),
                    ("memory", "--no-memory", no_memory),
                )
                if on
            },
        )
        emit(render(format.value, "check", report, output), output)
        if summary is not None:
            from archinspect.output import append_text

            append_text(summary, render("markdown", "check", report, None) + "\n", "--summary")
        if format in (CheckFormat.table, CheckFormat.csv, CheckFormat.markdown):
            for error in report.errors:  # the formats that do not carry them
                typer.echo(error.message, err=True)
            level = "error" if require_budget else "warning"
            for path in report.unbudgeted:
                typer.echo(f"{level}: {path}: {no_budget_message(require_budget)}", err=True)
        if any(error.internal for error in report.errors):
            raise typer.Exit(EXIT_INTERNAL)
        if report.errors:
            raise typer.Exit(EXIT_BAD_INPUT)
        if not report.ok:
            raise typer.Exit(EXIT_BUDGET)

    run(ctx, body)
