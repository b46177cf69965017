"""The `archinspect` program (the console script and `python -m archinspect`). Importing this
module runs nothing."""

from archinspect import interrupt


def main() -> None:
    interrupt.install()  # first: Ctrl-C while the CLI is being imported is handled too
    try:
        from archinspect.cli import main as cli

        cli()
    finally:
        interrupt.finish()  # after Ctrl-C: exit 130 now, whatever was raised or returned


def _drop_working_directory() -> None:
    """`python -m archinspect` puts the working directory first on `sys.path` (unless -P), so
    any package a checkout holds would shadow the installed one it is named after: dropped
    before anything else is imported (README "Any Equinox module: `target:`")."""
    import os
    import sys

    if sys.flags.safe_path or not sys.path:
        return
    first = sys.path[0]
    if first == "" or os.path.realpath(first) == os.path.realpath(os.getcwd()):
        del sys.path[0]


if __name__ == "__main__":
    _drop_working_directory()
    main()
