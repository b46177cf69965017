"""`archinspect equivariance`: exit 0 when every group element keeps the model equivariant
within the tolerance, 1 when one does not (with the causes it detects), 2 on bad input."""

# No `from __future__ import annotations` here: Typer reads the commands' signatures at
# every start, and a string annotation costs it an eval each (tests/test_cli_startup.py).
from typing import Annotated

import typer

from archinspect.cli.app import (
    EXIT_BUDGET,
    FollowOpt,
    Format,
    FormatOpt,
    MaxMemoryOpt,
    OutputOpt,
    PlatformOpt,
    SetOpt,
    SpecArg,
    TrustOpt,
    emit,
    load,
    render,
    run,
)


def _axis(value: str | None) -> object:
    from archinspect.commands.equivariance import UNSET

    if value is None:
        return UNSET
    if value == "none":
        return None
    try:
        return int(value)
    except ValueError:
        raise typer.BadParameter(f"must be an integer axis or none, got {value!r}") from None


def equivariance(
    ctx: typer.Context,
    spec: SpecArg = None,
    set_: SetOpt = None,
    group: Annotated[
        str | None,
        typer.Option(
            "--group",
            metavar="C4|D4",
            help="the group to check (default: the family's; C4 for a target)",
        ),
    ] = None,
    orientation_axis: Annotated[
        str | None,
        typer.Option(
            "--orientation-axis",
            metavar="AXIS|none",
            help="the output axis holding the orientations (a multiple of S entries: channels "
            "x orientations, orientation fastest); none: the output must be invariant up to "
            "the rotation of space (default: the family's; none for a target)",
        ),
    ] = None,
    tolerance: Annotated[
        float,
        typer.Option(
            "--tolerance", min=0.0, help="largest error allowed, relative to max |output|"
        ),
    ] = 1e-5,
    seed: Annotated[int, typer.Option("--seed", min=0, help="of the weights and the input")] = 0,
    max_memory: MaxMemoryOpt = None,
    format: FormatOpt = Format.table,
    output: OutputOpt = None,
    trust: TrustOpt = None,
    follow_symlinks: FollowOpt = False,
    platform: PlatformOpt = None,
) -> None:
    """Check numerically that rotating (and mirroring) the input rotates the output.

    For every element of C4 or D4, the output must rotate and its orientations permute; when
    it fails, the cause is named.

    Real weights and a random input (seeded). Exit 1 when an element's error is above the
    tolerance.
    """
    axis = _axis(orientation_axis)

    def body() -> None:
        from archinspect.commands.equivariance import equivariance_report
        from archinspect.commands.inputs import max_memory as memory

        limit = memory(max_memory)
        loaded = load(spec, set_, follow_symlinks)

        report = equivariance_report(
            loaded,
            trust or (),
            group=group,
            orientation_axis=axis,
            seed=seed,
            tolerance=tolerance,
            max_bytes=limit,
        )
        emit(render(format.value, "equivariance", report, output), output)
        if not report.ok:
            raise typer.Exit(EXIT_BUDGET)

    run(ctx, body)
