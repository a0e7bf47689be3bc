"""``python -m motifscan`` runs the command line."""

from motifscan.cli import main

main()
