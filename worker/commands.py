"""Commands of this part, registered on the ``insiders`` group by ``worker.cli``."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
