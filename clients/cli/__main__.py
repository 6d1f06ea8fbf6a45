"""``python -m clients.cli``: the same command line as the ``medledger`` script."""

from clients.cli import main

main()
