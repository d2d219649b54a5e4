"""``insiders user``: dashboard accounts."""

from __future__ import annotations

import click

from migrations import ready_engine
from settings import load_settings
from store.db import session_scope
from store.users import MIN_PASSWORD_LENGTH, UserError, save_user


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
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.ClickException(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    engine = ready_engine(load_settings())
    try:
        with session_scope(engine) as session:
            account = save_user(session, username, password, role)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"user {account.username} saved with role {account.role}")
