"""Command-line interface: the only package that prints to the terminal or exits.

Each command parses its options, calls a use case (archinspect.commands), renders the report
(archinspect.render) and prints or exits; nothing else.
"""

import typer

from archinspect.cli import budgets, model, specs
from archinspect.cli.app import (
    EXIT_BAD_INPUT,
    EXIT_BROKEN_PIPE,
    EXIT_BUDGET,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    app,
)

# In the order `--help` lists them.
COMMANDS = (
    model.count,
    model.shapes,
    model.inspect,
    model.rf,
    budgets.sweep,
    budgets.solve,
    budgets.check,
    specs.families,
    specs.schema,
    specs.validate,
)
for _command in COMMANDS:
    app.command()(_command)


def main() -> None:
    """The `archinspect` program: the app, with Ctrl-C made reliable (see cli/interrupt.py)."""
    from archinspect.cli import interrupt

    interrupt.install()
    try:
        app()
    finally:
        if interrupt.pending():  # it came outside a command body, e.g. while parsing options
            interrupt.delivered()
            typer.echo("interrupted", err=True)
        if interrupt.requested():
            _exit_now(EXIT_INTERRUPTED)


def _exit_now(code: int) -> None:
    """Exit without waiting for worker threads: an XLA compilation still running in one cannot
    be cancelled, and the interpreter would otherwise join it before exiting."""
    import os
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_BROKEN_PIPE",
    "EXIT_BUDGET",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "app",
    "main",
]
