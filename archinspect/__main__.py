"""`python -m archinspect`. Importing this module runs nothing."""

from archinspect.cli import main

if __name__ == "__main__":
    main()
