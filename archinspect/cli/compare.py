"""Commands on two models: diff."""

# No `from __future__ import annotations` here: Typer reads the commands' signatures at
# every start, and a string annotation costs it an eval each (tests/test_cli_startup.py).
from typing import Annotated

import typer

from archinspect.cli.app import (
    EXIT_BAD_INPUT,
    DepthOpt,
    FollowOpt,
    Format,
    FormatOpt,
    NoCacheOpt,
    OutputOpt,
    PlatformOpt,
    SetOpt,
    TrustOpt,
    emit,
    load,
    render,
    run,
    settings,
)


def _side_set(side: str) -> object:
    return typer.Option(
        f"--set-{side}",
        metavar="KEY=VALUE",
        help=f"override a key of spec {side.upper()} only, after --set (repeatable)",
    )


def diff(
    ctx: typer.Context,
    spec_a: Annotated[
        str, typer.Argument(metavar="A", help="the first spec file (- for standard input)")
    ],
    spec_b: Annotated[
        str, typer.Argument(metavar="B", help="the second spec file (- for standard input)")
    ],
    set_: SetOpt = None,
    set_a: Annotated[list[str] | None, _side_set("a")] = None,
    set_b: Annotated[list[str] | None, _side_set("b")] = None,
    with_flops: Annotated[
        bool, typer.Option("--flops", help="add XLA's FLOPs of both (compiles, never runs)")
    ] = False,
    with_memory: Annotated[
        bool,
        typer.Option("--memory", help="add activation bytes and XLA's peak memory (compiles)"),
    ] = False,
    format: FormatOpt = Format.table,
    output: OutputOpt = None,
    depth: DepthOpt = 2,
    trust: TrustOpt = None,
    follow_symlinks: FollowOpt = False,
    platform: PlatformOpt = None,
    no_cache: NoCacheOpt = False,  # read by `run` (cli/app.py) from the context
) -> None:
    """Two specs side by side: differing arguments, parameters, shapes, RF, and B - A.

    Parameters are total, learnable, materialized and per module.

    Abstract unless --flops or --memory is given. A diff is information, not a budget: exit 0
    whatever differs; exit 2 when either spec is bad.
    """

    def body() -> None:
        from archinspect.errors import ArchinspectError, UsageError

        if spec_a == spec_b == "-":
            raise UsageError("error: standard input (-) can be read once: give it as A or B")
        overrides = ([*(set_ or []), *(set_a or [])], [*(set_ or []), *(set_b or [])])
        loaded, errors = [], []
        for spec, keys in zip((spec_a, spec_b), overrides, strict=True):
            try:
                loaded.append(load(spec, keys, follow_symlinks))
            except ArchinspectError as exc:
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        if errors:  # both bad: say everything that is wrong with either
            for error in errors:
                typer.echo(error.message, err=True)
            raise typer.Exit(EXIT_BAD_INPUT)
        from archinspect.commands.diff import diff_report

        report = diff_report(
            loaded[0],
            loaded[1],
            depth=depth,
            trusted=trust or (),
            flops=with_flops,
            memory=with_memory,
            platform=settings(ctx).platform,
            overrides=overrides,
        )
        emit(render(format.value, "diff", report, output), output)

    run(ctx, body)
