"""The ``insiders`` command: one entry point, its subcommands grouped by subject.

Each subject is a module of this package: ``files`` (the pipeline on files, no database),
``database``, ``ingest``, ``runs``, ``services`` (worker, beat, dashboard), ``users`` and
``demo``. No part of the product imports this package, so the worker and the dashboard never
import each other to mount their commands.
"""

from __future__ import annotations

import importlib
import sys
import warnings

import click

from cli.errors import one_line
from pipeline.errors import InsidersError
from settings import SettingsError

# UMAP falls back to a random start (still seeded, so still reproducible) and says so at length,
# once per fit: nothing an operator can act on
warnings.filterwarnings("ignore", message="Spectral initialisation failed", category=UserWarning)

# name -> "module:attribute". A subject's module is imported only when one of its commands
# runs: the file commands load scikit-learn and UMAP, the dashboard loads Dash (seconds each),
# and `insiders runs` should not wait for either.
COMMANDS: dict[str, str] = {
    "features": "cli.files:features_command",
    "segment": "cli.files:segment_command",
    "report": "cli.files:report_command",
    "select": "cli.files:select_command",
    "predict": "cli.predict:predict_command",
    "db": "cli.database:db",
    "ingest": "cli.ingest:ingest",
    "batches": "cli.batches:batches",
    "rollup": "cli.rollup:rollup",
    "run": "cli.runs:run",
    "backfill": "cli.runs:backfill",
    "runs": "cli.runs:runs_command",
    "worker": "cli.services:worker",
    "beat": "cli.services:beat",
    "dashboard": "cli.services:dashboard",
    "user": "cli.users:user",
    "demo": "cli.demo:demo",
    "token": "cli.tokens:token",
    "export": "cli.export:export",
    "webhook": "cli.webhooks:webhook",
    "customers": "cli.customers:customers",
}


class SubjectGroup(click.Group):
    """A group that imports a command's module when the command is looked up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        return getattr(importlib.import_module(module_name), attribute)


@click.group(cls=SubjectGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Insiders: find the most valuable customers and track who enters and leaves."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> None:
    """Console entry point: known errors become one clear line and exit code 2."""
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
    except Exception as exc:
        message = one_line(exc)
        if debug or message is None:
            raise
        click.echo(f"error: {message}", err=True)
        sys.exit(2)
