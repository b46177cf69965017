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
    Command,
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
# What `archinspect --help` lists: one line each, short enough for an 80-column terminal (the
# width of piped output too), so that no summary wraps mid-sentence. `<command> --help` shows
# the whole docstring.
SUMMARIES = {
    "count": "Exact parameter counts, per module, by dtype and bytes.",
    "shapes": "Per-layer input and output shapes of the forward pass.",
    "inspect": "Parameters, shapes, FLOPs and memory: the full report.",
    "rf": "Exact receptive field per axis and direction.",
    "equivariance": "Check that rotating the input rotates the output.",
    "init": "Signal propagation at initialization, with real weights.",
    "diff": "Two specs side by side, with the differences B - A.",
    "sweep": "Sweep arguments and fit each metric's scaling law.",
    "solve": "The largest value of --param within a budget.",
    "check": "Enforce budgets in CI: exit 1 when one is exceeded.",
    "families": "The built-in families, or one family's arguments.",
    "schema": "The JSON Schema of spec files, for editors.",
    "validate": "Check spec files without building anything (no JAX).",
}
for _command in COMMANDS:
    app.command(cls=Command, short_help=SUMMARIES[_command.__name__])(_command)


def main() -> None:
    """The app; the program (archinspect/__main__.py) wraps it with the Ctrl-C handling."""
    import gc

    # Young collections every 50,000 allocations instead of 700: tracing a model of 10⁴ layers
    # allocates millions of objects that live until the command ends, and scanning them again
    # and again took a third of `count`'s time at depth 10⁴ (README "Performance").
    gc.set_threshold(50_000, 10, 10)
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
