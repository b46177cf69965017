"""The Typer app, its global options and what every command shares: the option types, running
a command body (errors to messages and exit codes), loading the spec (its notes to stderr),
rendering and writing the report.

Heavy imports (JAX, Equinox, the analyses) happen inside the commands that need them, so
`--help`, `families`, `schema` and spec validation stay fast.
"""

# No `from __future__ import annotations`: Typer reads the root callback's signature at every
# start, and a string annotation costs it an eval each (tests/test_cli_startup.py).
import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from archinspect import __version__

if TYPE_CHECKING:
    from archinspect.commands.inputs import SpecLoader
    from archinspect.spec.model import Spec

EXIT_BUDGET = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT): 128 + 2, as the shell reports it (interrupt.py)
EXIT_TERMINATED = 143  # SIGTERM: 128 + 15 (a cancelled CI job, `kill`, `timeout`)
EXIT_BROKEN_PIPE = 141  # the reader closed the pipe early: 128 + 13 (SIGPIPE)

app = typer.Typer(
    name="archinspect",
    help="Exact, abstract architecture inspection for JAX/Equinox networks: parameters, "
    "receptive fields, shapes, FLOPs, memory.",
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Command(TyperCommand):
    """Every command's usage line as the README writes it: `count [OPTIONS] [SPEC]`, `check
    [OPTIONS] SPEC...` (an optional argument in brackets, a repeatable one with `...`), instead
    of the braces and doubled brackets some Typer releases print."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name != "argument":
                continue
            name = (param.metavar or param.name or "").strip("[]")
            if param.nargs != 1 and not name.endswith("..."):
                name += "..."
            pieces.append(name if param.required else f"[{name}]")
        return pieces


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


SpecArg = Annotated[
    str | None,
    typer.Argument(
        metavar="SPEC",
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
FrozenOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--frozen",
        metavar="PATTERN",
        help="arrays not trained, e.g. '*.running_*' or 'solver.*': a glob (* and ?) over the "
        "dotted paths `count` shows; out of learnable, counted as frozen (repeatable)",
    ),
]


def checked_output(ctx: typer.Context, param: typer.CallbackParam, value: str | None) -> str | None:
    """An output path (--output, --plot), checked when the command line is parsed, before any
    work: a target that cannot be written is exit 2 now, not after the analysis."""
    from archinspect.errors import ArchinspectError
    from archinspect.output import check_target

    if value is None or ctx.resilient_parsing:
        return value
    try:
        check_target(value, max(param.opts, key=len))
    except ArchinspectError as exc:
        if settings(ctx).debug:
            raise
        typer.echo(exc.message, err=True)
        raise typer.Exit(exc.exit_code) from None
    return value


def report_output(ctx: typer.Context, param: typer.CallbackParam, value: str | None) -> str | None:
    """--output: `-` is standard output (as no --output), any other path is checked at once."""
    if value == "-":
        return None
    return checked_output(ctx, param, value)


OutputOpt = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        metavar="FILE",
        help="write the report to FILE (atomically) instead of stdout; - is stdout",
        callback=report_output,
    ),
]
FollowOpt = Annotated[
    bool,
    typer.Option(
        "--follow-symlinks",
        help="read spec files through symbolic links that lead outside the working "
        "directory's tree (refused by default: a checkout must not make archinspect quote "
        "files from elsewhere)",
    ),
]


def checked_platform(
    ctx: typer.Context, param: typer.CallbackParam, value: str | None
) -> str | None:
    """--platform, before the command name or after it (the latter wins): one of PLATFORMS,
    else exit 2 at once, whatever the command (the message of analysis/platform.py); kept in
    the root's Settings, which the commands read."""
    from archinspect.analysis.platform import PLATFORMS

    if value is None or ctx.resilient_parsing:
        return value
    if value not in PLATFORMS:
        typer.echo(
            f"error: --platform must be one of {', '.join(PLATFORMS)}, got {value!r}", err=True
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    root = ctx.find_root()
    if root is not ctx:
        root.obj = replace(settings(ctx), platform=value)
    return value


PlatformOpt = Annotated[
    str | None,
    typer.Option(
        "--platform",
        metavar="cpu|gpu|tpu",
        help="JAX backend for compiled analyses (FLOPs, memory); exit 2 if it is not present; "
        "accepted before or after the command name",
        callback=checked_platform,
    ),
]
MaxMemoryOpt = Annotated[
    str | None,
    typer.Option(
        "--max-memory",
        metavar="BYTES",
        help="memory one build or measurement may take: a constructor that cannot be traced "
        "abstractly is built concretely within it, the empirical receptive field grows its "
        "input up to it, an equivariance check runs within it (e.g. '512Mi', '8G'; default "
        "4Gi)",
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
NoCacheOpt = Annotated[
    bool,
    typer.Option(
        "--no-cache",
        help="compile every XLA program again: reuse no FLOPs or memory figure from the cache "
        'directory or from earlier in this run (as ARCHINSPECT_NO_CACHE=1; README "Caching")',
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


def _version(value: bool) -> None:
    if value:
        typer.echo(f"archinspect {__version__}")
        raise typer.Exit()


@dataclass(frozen=True)
class Settings:
    """The global options, kept in Typer's context (ctx.obj) for the commands."""

    debug: bool = False
    platform: str | None = None
    trust_paths: tuple[str, ...] = ()  # --trust-path (archinspect.build.locations.trusting)


def settings(ctx: typer.Context) -> Settings:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Settings) else Settings()


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
    trust_path: Annotated[
        list[str] | None,
        typer.Option(
            "--trust-path",
            metavar="DIR",
            help="also import trusted packages (model.target) from DIR, put first on the "
            "import path (repeatable; before the command: archinspect --trust-path DIR count "
            "...); never settable in a spec",
        ),
    ] = None,
) -> None:
    ctx.obj = Settings(debug=debug, platform=platform, trust_paths=tuple(trust_path or ()))


def run(ctx: typer.Context, body: Callable[[], Any]) -> Any:
    """Run a command body; turn archinspect's errors into a message and an exit code.

    An interrupt wins over everything else (exit 130, even when it surfaced as another
    exception); a reader that closed the pipe ends the command quietly (exit 141)."""
    from archinspect import interrupt
    from archinspect.cli import streams
    from archinspect.errors import ArchinspectError, InternalError, TooLarge

    debug = settings(ctx).debug
    try:
        if "output" not in ctx.params:
            streams.require_stdout()
        elif ctx.params["output"] is None:
            streams.require_stdout("; pass --output FILE to write the report to a file")
        from archinspect.build.locations import trusting

        with trusting(settings(ctx).trust_paths), xla_figures(ctx):
            result = body()
        interrupt.check()  # one swallowed on the way (archinspect/interrupt.py) still ends it
        return result
    except (KeyboardInterrupt, Exception) as exc:
        if isinstance(exc, KeyboardInterrupt) or interrupt.requested():
            interrupt.delivered()
            typer.echo(interrupt.message(), err=True)
            raise typer.Exit(interrupt.exit_code()) from None
        if isinstance(exc, BrokenPipeError):
            streams.discard()
            raise typer.Exit(EXIT_BROKEN_PIPE) from None
        if isinstance(exc, typer.Exit | typer.Abort):
            raise
        if debug:
            raise
        if isinstance(exc, ArchinspectError):
            typer.echo(exc.message, err=True)
            raise typer.Exit(exc.exit_code) from None
        # a spec too large for the machine (exit 2), or a bug: say so plainly, keep the
        # traceback behind --debug
        spec = ctx.params.get("spec")
        failure: ArchinspectError = (
            TooLarge(exc, spec if isinstance(spec, str) else None)
            if isinstance(exc, MemoryError | RecursionError)
            else InternalError(exc)
        )
        typer.echo(failure.message, err=True)
        raise typer.Exit(failure.exit_code) from None


@contextlib.contextmanager
def xla_figures(ctx: typer.Context) -> Iterator[None]:
    """The cache of XLA figures (README "Caching") of a command that compiles (one with
    --no-cache): off with --no-cache or ARCHINSPECT_NO_CACHE; what went wrong with its
    directory is said under --debug only. Other commands never look at it."""
    if "no_cache" not in ctx.params:
        yield
        return
    from archinspect.analysis import xla_cache

    cache = xla_cache.XlaCache.from_environment(off=bool(ctx.params["no_cache"]))
    try:
        with xla_cache.using(cache):
            yield
    finally:
        if settings(ctx).debug:
            for note in cache.notes:
                typer.echo(note, err=True)


def emit(text: str, output: str | None) -> None:
    from archinspect import interrupt
    from archinspect.cli import streams

    interrupt.check()  # never write a report after Ctrl-C, even one that was swallowed
    if output is None:
        streams.write_stdout(text)
        return
    from archinspect.output import write_atomic

    write_atomic(output, text)
    typer.echo(f"wrote {output}", err=True)


def render(fmt: str, name: str, report: Any, output: str | None, **kwargs: Any) -> str:
    """Text of `report` by the renderer `archinspect.render.<fmt>.<name>_<fmt>`."""
    import importlib

    renderer = getattr(importlib.import_module(f"archinspect.render.{fmt}"), f"{name}_{fmt}")
    if fmt == "table":
        return renderer(report, width=width(output), color=color(output), **kwargs)
    return renderer(report, **kwargs)


def color(output: str | None) -> bool:
    """Colour for a report on stdout, as Rich decides it (render/formats/table.py)."""
    from archinspect.render.formats.table import terminal

    return output is None and terminal(sys.stdout)[1]  # an --output file: never


def width(output: str | None = None) -> int:
    """The width of a report on stdout or in an --output file, as Rich decides it."""
    from archinspect.render.formats.table import terminal

    return terminal(sys.stdout if output is None else None)[0]


def say_notes(spec: "Spec") -> None:
    """A spec's notes (e.g. that the embedded default is used) go to stderr."""
    for note in spec.notes:
        typer.echo(note, err=True)


def load(
    spec: str | None,
    overrides: list[str] | None,
    follow_symlinks: bool = False,
    frozen: list[str] | None = None,
) -> "Spec":
    """The spec of a one-spec command, or its fallback; says which fallback on stderr."""
    from archinspect.spec import load_spec

    loaded = load_spec(spec, overrides or [], follow_symlinks, tuple(frozen or ()))
    say_notes(loaded)
    return loaded


def load_base(
    spec: str | None,
    overrides: list[str] | None,
    follow_symlinks: bool = False,
    frozen: list[str] | None = None,
) -> "tuple[SpecLoader, Spec]":
    """For commands that load the spec again per value (sweep, solve): the loader and the
    spec as given, whose notes (the embedded-default fallback) go to stderr once."""
    from archinspect.commands.inputs import spec_loader

    loader = spec_loader(spec, overrides, follow_symlinks, frozen or ())
    base = loader([])
    say_notes(base)
    return loader, base
