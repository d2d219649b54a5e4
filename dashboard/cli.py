"""Commands of this part, registered on the ``insiders`` group by ``worker.cli``:
``insiders dashboard`` and ``insiders user add``."""

from __future__ import annotations

import click

from store.settings import Settings, load_settings


def _engine(settings: Settings):
    """The database engine; the embedded SQLite schema is brought up to date first."""
    import migrations
    from store.db import get_engine

    if settings.is_sqlite:
        migrations.upgrade(settings.database_url)
    return get_engine(settings.database_url)


@click.command("dashboard")
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port to listen on (default 8050).")
def dashboard(host: str | None, port: int | None) -> None:
    """Serve the dashboard (embedded SQLite database unless INSIDERS_DATABASE_URL is set)."""
    from dashboard.app import serve

    settings = load_settings()
    _engine(settings)
    host = host or settings.dashboard_host
    port = port or settings.dashboard_port
    if not settings.admin_user:
        click.echo("no INSIDERS_ADMIN_USER set: add accounts with `insiders user add`", err=True)
    click.echo(f"Insiders dashboard: http://{host}:{port}/  (Ctrl+C stops it)")
    serve(host, port)


@click.group("user")
def user() -> None:
    """Dashboard accounts."""


@user.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["viewer", "admin"]), default="viewer",
              show_default=True, help="An admin can also start runs.")
@click.option("--password", default=None, envvar="INSIDERS_NEW_USER_PASSWORD",
              help="The password (prompted for, hidden, when not given).")
def user_add(username: str, role: str, password: str | None) -> None:
    """Create USERNAME, or change its role and password if it exists."""
    from store.db import session_scope
    from store.users import MIN_PASSWORD_LENGTH, UserError, save_user

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.ClickException(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    engine = _engine(load_settings())
    try:
        with session_scope(engine) as session:
            account = save_user(session, username, password, role)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"user {account.username} saved with role {account.role}")


COMMANDS: list[click.Command] = [dashboard, user]
