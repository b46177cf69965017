"""Commands on one model: count, shapes, inspect, rf."""

# No `from __future__ import annotations` here: Typer reads the commands' signatures at
# every start, and a string annotation costs it an eval each (tests/test_cli_startup.py).
from enum import Enum
from typing import Annotated

import typer

from archinspect.cli.app import (
    DepthOpt,
    FollowOpt,
    Format,
    FormatOpt,
    FrozenOpt,
    MaxMemoryOpt,
    NoCacheOpt,
    OutputOpt,
    PlatformOpt,
    SetOpt,
    SpecArg,
    TrustOpt,
    emit,
    load,
    render,
    run,
    settings,
)

RFOpt = Annotated[
    bool,
    typer.Option(
        "--rf/--no-rf",
        help="cumulative receptive field per layer and of the network (structural analysis)",
    ),
]

NoFlopsOpt = Annotated[
    bool,
    typer.Option(
        "--no-flops",
        help="skip every FLOPs figure (per layer, analytic, compiled forward); shown as not "
        "measured",
    ),
]
NoMemoryOpt = Annotated[
    bool,
    typer.Option(
        "--no-memory",
        help="skip XLA's memory analysis: the training step is then not compiled (most of "
        "inspect's time); shown as not measured",
    ),
]

DenseOpt = Annotated[
    bool,
    typer.Option(
        "--dense-equivalent",
        help="add each conv's dense equivalent: the size of the matrix it would be if "
        "unrolled, its structural non-zeros and the weight-sharing factor (non-zeros / weights)",
    ),
]


class MatchBy(str, Enum):
    params = "params"
    compute = "compute"


def count(
    ctx: typer.Context,
    spec: SpecArg = None,
    set_: SetOpt = None,
    format: FormatOpt = Format.table,
    output: OutputOpt = None,
    depth: DepthOpt = 2,
    trust: TrustOpt = None,
    with_rf: Annotated[
        bool | None,
        typer.Option(
            "--rf/--no-rf",
            help="the cumulative receptive field per module and of the network (structural "
            "analysis); on by default where the input has a spatial axis. --no-rf: parameters "
            "only",
            show_default=False,
        ),
    ] = None,
    follow_symlinks: FollowOpt = False,
    frozen: FrozenOpt = None,
    max_memory: MaxMemoryOpt = None,
    match_cnn: Annotated[
        int | None,
        typer.Option(
            "--match-cnn",
            metavar="N",
            min=1,
            help="group CNNs: set every hidden width to the G-channel width that matches a "
            "plain CNN of N channels (see --by), and count that",
        ),
    ] = None,
    by: Annotated[
        MatchBy | None,
        typer.Option(
            "--by",
            help="with --match-cnn: equal parameters (N/sqrt(S) G-channels) or equal compute "
            "(N/S); rounded down, at least 1  [default: params]",
        ),
    ] = None,
    platform: PlatformOpt = None,
) -> None:
    """Count parameters exactly (total, learnable, materialized, by dtype and bytes), per module.

    The model is built abstractly with eqx.filter_eval_shape: no weight memory is allocated.
    """

    def body() -> None:
        import dataclasses

        from archinspect.commands.count import count_report
        from archinspect.commands.count import match_cnn as matched
        from archinspect.commands.inputs import max_memory as memory
        from archinspect.errors import UsageError

        if by is not None and match_cnn is None:
            raise UsageError("error: --by chooses how --match-cnn N matches; give --match-cnn N")
        limit = memory(max_memory)
        loaded = load(spec, set_, follow_symlinks, frozen)
        note = None
        if match_cnn is not None:
            overrides, note = matched(loaded, match_cnn, (by or MatchBy.params).value)
            loaded = load(spec, [*(set_ or []), *overrides], follow_symlinks, frozen)
        report = count_report(loaded, depth, trust or (), rf=with_rf, max_memory=limit)
        if note is not None:
            report = dataclasses.replace(report, notes=(note, *report.notes))
        emit(render(format.value, "count", report, output), output)

    run(ctx, body)


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
    dense: bool,
    follow_symlinks: bool,
    max_memory: str | None,
    frozen: list[str] | None = None,
    no_flops: bool = False,
    no_memory: bool = False,
) -> None:
    def body() -> None:
        from archinspect.commands.inputs import max_memory as memory

        limit = memory(max_memory)
        loaded = load(spec, set_, follow_symlinks, frozen)
        from archinspect.commands.inspect import inspect_report

        report = inspect_report(
            loaded,
            depth=depth,
            trusted=trust or (),
            platform=settings(ctx).platform,
            costs=full,
            rf=with_rf,
            dense=dense,
            max_memory=limit,
            flops=not no_flops,
            memory=not no_memory,
            why_skipped={"flops": "skipped by --no-flops", "memory": "skipped by --no-memory"},
        )
        emit(render(format.value, "inspect", report, output, full=full), output)

    run(ctx, body)


def shapes(
    ctx: typer.Context,
    spec: SpecArg = None,
    set_: SetOpt = None,
    format: FormatOpt = Format.table,
    output: OutputOpt = None,
    depth: DepthOpt = 2,
    trust: TrustOpt = None,
    with_rf: RFOpt = True,
    dense: DenseOpt = False,
    follow_symlinks: FollowOpt = False,
    frozen: FrozenOpt = None,
    max_memory: MaxMemoryOpt = None,
    platform: PlatformOpt = None,
) -> None:
    """Per-layer input and output shapes of the forward pass, for any Equinox module.

    Traced abstractly (no weights, nothing compiled); a module called several times is one
    row with its call count.
    """
    _layers_command(
        ctx,
        spec,
        set_,
        format,
        output,
        depth,
        trust,
        full=False,
        with_rf=with_rf,
        dense=dense,
        follow_symlinks=follow_symlinks,
        frozen=frozen,
        max_memory=max_memory,
    )


def inspect(
    ctx: typer.Context,
    spec: SpecArg = None,
    set_: SetOpt = None,
    format: FormatOpt = Format.table,
    output: OutputOpt = None,
    depth: DepthOpt = 2,
    trust: TrustOpt = None,
    with_rf: RFOpt = True,
    dense: DenseOpt = False,
    follow_symlinks: FollowOpt = False,
    frozen: FrozenOpt = None,
    max_memory: MaxMemoryOpt = None,
    platform: PlatformOpt = None,
    no_flops: NoFlopsOpt = False,
    no_memory: NoMemoryOpt = False,
    no_cache: NoCacheOpt = False,  # read by `run` (cli/app.py) from the context
) -> None:
    """The full report: parameters, per-layer shapes and FLOPs, memory.

    FLOPs and memory are XLA's analyses of the forward pass and of a training step
    (value_and_grad of a mean squared error), compiled for --platform but never run.
    """
    _layers_command(
        ctx,
        spec,
        set_,
        format,
        output,
        depth,
        trust,
        full=True,
        with_rf=with_rf,
        dense=dense,
        follow_symlinks=follow_symlinks,
        frozen=frozen,
        max_memory=max_memory,
        no_flops=no_flops,
        no_memory=no_memory,
    )


class RFMethod(str, Enum):
    structural = "structural"
    empirical = "empirical"
    both = "both"


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
    follow_symlinks: FollowOpt = False,
    max_memory: MaxMemoryOpt = None,
    platform: PlatformOpt = None,
) -> None:
    """Exact receptive field per spatial axis and direction, and its range over outputs.

    Also whether any output is coupled to every input (norms, FFTs, dense layers over space).
    """

    def body() -> None:
        from archinspect.commands.inputs import max_memory as memory

        limit = memory(max_memory)
        loaded = load(spec, set_, follow_symlinks)
        from archinspect.commands.rf import rf_report

        report = rf_report(loaded, method=method.value, trusted=trust or (), max_memory=limit)
        emit(render(format.value, "rf", report, output), output)

    run(ctx, body)
