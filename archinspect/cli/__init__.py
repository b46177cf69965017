"""Command-line interface: the only package that prints to the terminal or exits.

Each command parses its options, calls a use case (archinspect.commands), renders the report
(archinspect.render) and prints or exits; nothing else.
"""

from archinspect.cli import budgets, compare, equivariance, init, model, specs
from archinspect.cli.app import (
    EXIT_BAD_INPUT,
    EXIT_BROKEN_PIPE,
    EXIT_BUDGET,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    app,
)

# In the order `--help` lists them.
COMMANDS = (
    model.count,
    model.shapes,
    model.inspect,
    model.rf,
    equivariance.equivariance,
    init.init,
    compare.diff,
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
    """The app; the program (archinspect/__main__.py) wraps it with the Ctrl-C handling."""
    app()


__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_BROKEN_PIPE",
    "EXIT_BUDGET",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "app",
    "main",
]
