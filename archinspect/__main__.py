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


if __name__ == "__main__":
    main()
