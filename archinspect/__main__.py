"""`python -m archinspect`."""

from archinspect.cli import main

main()
