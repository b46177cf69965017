"""`archinspect init`: exit 0 with the verdict (exploding and vanishing signals are reported,
not failed: nothing is over a budget), 2 on bad input or when the run would exceed
--max-memory."""

# No `from __future__ import annotations` here: Typer reads the commands' signatures at
# every start, and a string annotation costs it an eval each (tests/test_cli_startup.py).
from typing import Annotated

import typer

from archinspect.cli.app import (
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


def init(
    ctx: typer.Context,
    spec: SpecArg = None,
    set_: SetOpt = None,
    batch: Annotated[
        int, typer.Option("--batch", min=2, help="random N(0, 1) inputs in the batch")
    ] = 8,
    seed: Annotated[int, typer.Option("--seed", min=0, help="of the weights and the inputs")] = 0,
    phase_diagram: Annotated[
        str | None,
        typer.Option(
            "--phase-diagram",
            metavar="FILE.png|.svg",
            help="also draw the (σ_w², σ_b²) plane: mean-field theory's χ₁ = 1 line for the "
            "model's activation and the measured verdict of the network on a 5×4 grid",
        ),
    ] = None,
    max_memory: MaxMemoryOpt = None,
    format: FormatOpt = Format.table,
    output: OutputOpt = None,
    trust: TrustOpt = None,
    follow_symlinks: FollowOpt = False,
    platform: PlatformOpt = None,
) -> None:
    """Signal propagation at initialization: real weights (the spec's `init:`), a random
    batch; per conv and dense layer the mean and std of its output, the correlation of two
    inputs, the gradient norm; verdict exploding / vanishing / ordered / critical / chaotic.
    """

    def body() -> None:
        from archinspect.commands.init import init_report
        from archinspect.commands.inputs import max_memory as memory

        limit = memory(max_memory)
        if phase_diagram is not None and not phase_diagram.endswith((".png", ".svg")):
            from archinspect.errors import UsageError

            raise UsageError(
                f"error: --phase-diagram writes .png or .svg files, got {phase_diagram!r}"
            )
        loaded = load(spec, set_, follow_symlinks)
        report = init_report(loaded, trust or (), batch=batch, seed=seed, max_bytes=limit)
        if phase_diagram is not None:
            from archinspect.commands.init import phase_diagram as measure_plane
            from archinspect.render.phase_diagram import phase_diagram_plot

            plane = measure_plane(loaded, trust or (), batch=batch, seed=seed, max_bytes=limit)
            phase_diagram_plot(plane, phase_diagram)
        emit(render(format.value, "init", report, output), output)
        if phase_diagram is not None:
            typer.echo(f"wrote {phase_diagram}", err=True)

    run(ctx, body)
