"""Commands about specs and families, none of which imports JAX: families, schema, validate."""

# No `from __future__ import annotations` here: Typer reads the commands' signatures at
# every start, and a string annotation costs it an eval each (tests/test_cli_startup.py).
from enum import Enum
from typing import Annotated

import typer

from archinspect.cli.app import (
    FollowOpt,
    Format,
    FormatOpt,
    OutputOpt,
    PlatformOpt,
    SetOpt,
    color,
    emit,
    render,
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
    platform: PlatformOpt = None,
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
                chosen, detail=name is not None, width=width(output), color=color(output)
            )
        elif format is Format.json:
            text = render.families_json(chosen)
        elif format is Format.csv:
            text = render.families_csv(chosen)
        else:
            text = render.families_markdown(chosen)
        emit(text, output)

    run(ctx, body)


def schema(ctx: typer.Context, output: OutputOpt = None, platform: PlatformOpt = None) -> None:
    """Print the JSON Schema of spec files (for editors, e.g. yaml-language-server)."""

    def body() -> None:
        from archinspect.render.json import dumps
        from archinspect.spec.schema import build_schema

        emit(dumps(build_schema()), output)

    run(ctx, body)


class ValidateFormat(str, Enum):
    text = "text"
    json = "json"
    github = "github"


def validate(
    ctx: typer.Context,
    specs: Annotated[
        list[str],
        typer.Argument(
            metavar="SPEC...",
            help="spec files or quoted glob patterns ('configs/**/*.yaml'); - reads one from "
            "standard input",
            show_default=False,
        ),
    ],
    set_: SetOpt = None,
    format: Annotated[
        ValidateFormat,
        typer.Option(
            "--format",
            "-f",
            help="text: `ok: FILE` on stdout and the problems on stderr; json (for editors) and "
            "github (workflow commands, one annotation per problem line): all on stdout",
        ),
    ] = ValidateFormat.text,
    output: OutputOpt = None,
    follow_symlinks: FollowOpt = False,
    platform: PlatformOpt = None,
) -> None:
    """Check spec files without building anything (no JAX import); exit 2 if any is bad.

    Every problem of a file is reported at once, one per line as `FILE:LINE:COL: key: message`,
    and every file is checked, even after a bad one (or one on which archinspect meets a bug:
    exit 3).
    """

    def body() -> None:
        from archinspect.commands.check import spec_error
        from archinspect.commands.inputs import expand_specs
        from archinspect.errors import ArchinspectError, user_error
        from archinspect.report import CheckError, ValidateReport
        from archinspect.spec import load_spec
        from archinspect.spec.files import STDIN, STDIN_SOURCE
        from archinspect.text import visible

        results: list[tuple[str, CheckError | None]] = []
        failures: list[ArchinspectError] = []
        for given in expand_specs(specs):
            path = STDIN_SOURCE if given == STDIN else given  # as messages name it
            try:
                load_spec(given, set_ or [], follow_symlinks)
            except Exception as exc:
                if not isinstance(exc, ArchinspectError) and settings(ctx).debug:
                    raise
                failure = exc if isinstance(exc, ArchinspectError) else user_error(exc, path)
                failures.append(failure)
                results.append((path, spec_error(path, failure)))
                if format is ValidateFormat.text:
                    typer.echo(failure.message, err=True)
                continue
            results.append((path, None))
        report = ValidateReport(tuple(results))
        if format is ValidateFormat.text:
            emit("".join(visible(f"ok: {path}") + "\n" for path, e in results if e is None), output)
        else:
            emit(render(format.value, "validate", report, output), output)
        if failures:
            raise typer.Exit(max(failure.exit_code for failure in failures))

    run(ctx, body)
