"""``insiders demo``: the product on synthetic data, in one process, from a clean clone.

Creates the database, generates and ingests demo transactions, queues monthly runs (so there
are membership changes to show from day one), creates a demo admin and viewer, then runs
the Celery worker and beat with the dashboard beside them. A rerun skips what exists.
"""

from __future__ import annotations

import contextvars
import threading
from datetime import date

import click
import pandas as pd
from sqlalchemy import Engine, select

import migrations
from cli.runs import backfill_runs
from dashboard.app import serve
from pipeline.contacts import read_contacts
from pipeline.synthetic import write_synthetic
from pipeline.synthetic_contacts import write_contacts
from settings import Settings, load_settings
from store.contacts import upsert_contacts
from store.db import get_engine, session_scope
from store.schema import User
from store.transactions import ingest_file, max_invoice_date
from store.users import save_user
from worker.embedded import worker_for_this_command
from worker.launch import start_worker

DEMO_CUSTOMERS = 2000
DEMO_MONTHS = 4
DEMO_SEED = 7
DEMO_PROFILE = "default"
DEMO_ACCOUNTS = (("admin", "insiders-admin", "admin"), ("viewer", "insiders-viewer", "viewer"))


def ensure_demo_data(settings: Settings, engine: Engine, customers: int) -> None:
    """Generate the synthetic file once and ingest it (a second ingest is recognised)."""
    path = settings.data_dir / f"demo-transactions-{customers}.parquet"
    if not path.exists():
        click.echo(f"generating demo transactions for {customers} customers ...")
        write_synthetic(path, customers, seed=DEMO_SEED)
    outcome = ingest_file(engine, path, profile=DEMO_PROFILE)
    verb = "loaded" if outcome.created else "already loaded"
    click.echo(f"demo data {verb}: batch {outcome.batch_id}, {outcome.n_accepted} transactions")
    contacts_path = settings.data_dir / f"demo-contacts-{customers}.csv"
    if not contacts_path.exists():
        write_contacts(path, contacts_path, seed=DEMO_SEED)
    with engine.begin() as connection:
        counts = upsert_contacts(connection, read_contacts(contacts_path).contacts)
    click.echo(f"demo contacts: {counts.added} added, {counts.updated} updated")


def demo_period_ends(engine: Engine, months: int = DEMO_MONTHS) -> list[date]:
    """The last ``months`` month ends before the last transaction, then the last day itself."""


    with engine.connect() as connection:
        last = max_invoice_date(connection).date()
    ends = [d.date() for d in pd.date_range(end=last, periods=months + 1, freq="ME")]
    earlier = [d for d in ends if d < last][-months:]
    return [*earlier, last]


def ensure_demo_accounts(settings: Settings, engine: Engine) -> list[str]:
    """Create the demo admin and viewer if absent; returns lines describing them."""


    accounts = list(DEMO_ACCOUNTS)
    if settings.admin_user and settings.admin_password:
        accounts[0] = (settings.admin_user, settings.admin_password, "admin")
    lines = []
    with session_scope(engine) as session:
        for username, password, role in accounts:
            exists = session.scalars(select(User.id).where(User.username == username)).first()
            if exists is None:
                save_user(session, username, password, role)
            lines.append(f"  {role:<6} {username} / {password}" + ("" if exists is None else
                         "  (existing account kept)"))
    return lines


def run_demo(
    settings: Settings, *, host: str, port: int, customers: int | None, serve: bool = True
) -> None:
    """Everything ``insiders demo`` does; blocks in the worker when ``serve``."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrations.upgrade(settings.database_url)
    engine = get_engine(settings.database_url)
    ensure_demo_data(settings, engine, customers or DEMO_CUSTOMERS)
    accounts = ensure_demo_accounts(settings, engine)
    as_ofs = demo_period_ends(engine)
    if not serve:
        with worker_for_this_command(settings):
            backfill_runs(engine, as_ofs, skip_existing=True)
        return
    _serve_dashboard(host, port)
    click.echo(f"\nInsiders dashboard: http://{host}:{port}/")
    click.echo("accounts (demo only):\n" + "\n".join(accounts))
    click.echo(f"monthly runs as of {as_ofs[0]} .. {as_ofs[-1]} are queued one by one; "
               "they appear on the dashboard as they finish. Ctrl+C stops everything.\n")
    threading.Thread(
        target=backfill_runs,
        args=(engine, as_ofs),
        kwargs={"skip_existing": True},
        name="demo-backfill",
        daemon=True,
    ).start()
    start_worker(settings, concurrency=1, beat=True, loglevel="WARNING")


def _serve_dashboard(host: str, port: int) -> None:
    # Dash keeps page registration state in a context variable set at import: the thread
    # needs a copy of this thread's context, or register_page fails there
    context = contextvars.copy_context()
    threading.Thread(
        target=context.run, args=(serve, host, port), name="dashboard", daemon=True
    ).start()


@click.command("demo")
@click.option("--host", default=None, help="Dashboard host (default: INSIDERS_DASHBOARD_HOST).")
@click.option("--port", type=int, default=None, help="Dashboard port.")
@click.option("--customers", type=int, default=None, help="Synthetic customers to generate.")
@click.option("--no-serve", is_flag=True, help="Prepare data and runs, then exit.")
def demo(host: str | None, port: int | None, customers: int | None, no_serve: bool) -> None:
    """Demo data, a history of monthly runs, worker, beat and dashboard in one process."""
    settings = load_settings()
    run_demo(
        settings,
        host=host or settings.dashboard_host,
        port=port or settings.dashboard_port,
        customers=customers,
        serve=not no_serve,
    )
