"""``python -m cli``: the ``insiders`` command without the console script."""

from cli import main

main()
