"""Commands about specs and families, none of which imports JAX: families, schema, validate."""

from __future__ import annotations

from typing import Annotated

import typer

from archinspect.cli.app import (
    FollowOpt,
    Format,
    FormatOpt,
    OutputOpt,
    SetOpt,
    color,
    emit,
    run,
    settings,
    width,
)


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
                chosen, detail=name is not None, width=width(), color=color(output)
            )
        elif format is Format.json:
            text = render.families_json(chosen)
        elif format is Format.csv:
            text = render.families_csv(chosen)
        else:
            text = render.families_markdown(chosen)
        emit(text, output)

    run(ctx, body)


def schema(ctx: typer.Context, output: OutputOpt = None) -> None:
    """Print the JSON Schema of spec files (for editors, e.g. yaml-language-server)."""

    def body() -> None:
        from archinspect.render.json import dumps
        from archinspect.spec.schema import build_schema

        emit(dumps(build_schema()), output)

    run(ctx, body)


def validate(
    ctx: typer.Context,
    specs: Annotated[list[str], typer.Argument(metavar="SPEC...", help="spec files to check")],
    set_: SetOpt = None,
    follow_symlinks: FollowOpt = False,
) -> None:
    """Check spec files without building anything (no JAX import); exit 2 if any is bad.

    Every problem of a file is reported at once, and every file is checked, even after a bad
    one (or one on which archinspect meets a bug: exit 3).
    """

    def body() -> None:
        from archinspect.cli.streams import write_stdout
        from archinspect.errors import ArchinspectError, user_error
        from archinspect.spec import load_spec
        from archinspect.text import visible

        failures: list[ArchinspectError] = []
        for path in specs:
            try:
                load_spec(path, set_ or [], follow_symlinks)
            except Exception as exc:
                if not isinstance(exc, ArchinspectError) and settings(ctx).debug:
                    raise
                failure = exc if isinstance(exc, ArchinspectError) else user_error(exc, path)
                failures.append(failure)
                typer.echo(failure.message, err=True)
                continue
            write_stdout(visible(f"ok: {path}") + "\n")
        if failures:
            raise typer.Exit(max(failure.exit_code for failure in failures))

    run(ctx, body)
