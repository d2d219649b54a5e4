"""The ``insiders`` command: pipeline commands (files in, files out) and service commands."""

from __future__ import annotations

import sys

import click

from dashboard.cli import COMMANDS as DASHBOARD_COMMANDS
from pipeline.cli import COMMANDS as PIPELINE_COMMANDS
from worker.commands import COMMANDS as SERVICE_COMMANDS


class UserFacingError(click.ClickException):
    """An error shown as one line (exit code 2) unless --debug is given."""

    exit_code = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Insiders: find the most valuable customers and track who enters and leaves."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


for command in (*PIPELINE_COMMANDS, *SERVICE_COMMANDS, *DASHBOARD_COMMANDS):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: known errors become one clear line and exit code 2."""
    from pipeline.errors import InsidersError
    from store.settings import SettingsError

    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        cli.main(args=args, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (InsidersError, SettingsError) as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
