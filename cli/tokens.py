"""``insiders token``: tokens of the REST API (``Authorization: Bearer TOKEN``)."""

from __future__ import annotations

import click

from migrations import ready_engine
from settings import load_settings
from store.db import session_scope
from store.schema import TOKEN_SCOPES
from store.tokens import TokenError, create_token, list_tokens, revoke_token
from store.users import record


@click.group("token")
def token() -> None:
    """Tokens of the REST API: create (shown once), list, revoke."""


@token.command("create")
@click.argument("name")
@click.option("--scope", type=click.Choice(TOKEN_SCOPES), default="read", show_default=True,
              help="read: every GET; run: also start runs (POST /api/v1/runs).")
def token_create(name: str, scope: str) -> None:
    """Create a token named NAME and print it: it is shown this once, only its hash is kept."""
    engine = ready_engine(load_settings())
    try:
        with session_scope(engine) as session:
            info, secret = create_token(session, name, scope)
            record(session, "cli", "token_created", {"name": info.name, "scope": info.scope})
    except TokenError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"token {info.name} created with scope {info.scope}; copy it now, it is not "
               "shown again:", err=True)
    click.echo(secret)


@token.command("list")
def token_list() -> None:
    """Every token: name, scope, when created, last used and revoked."""
    engine = ready_engine(load_settings())
    with session_scope(engine) as session:
        tokens = list_tokens(session)
    if not tokens:
        click.echo("no tokens yet: insiders token create NAME --scope read")
        return
    click.echo(f"{'name':<24} {'scope':<6} {'created (UTC)':<17} {'last used':<17} status")
    for info in tokens:
        status = "active" if info.active else f"revoked {_when(info.revoked_at)}"
        click.echo(f"{info.name:<24} {info.scope:<6} {_when(info.created_at):<17} "
                   f"{_when(info.last_used_at):<17} {status}")


@token.command("revoke")
@click.argument("name")
def token_revoke(name: str) -> None:
    """Revoke the token named NAME: the API refuses it from now on."""
    engine = ready_engine(load_settings())
    try:
        with session_scope(engine) as session:
            info = revoke_token(session, name)
            record(session, "cli", "token_revoked", {"name": info.name})
    except TokenError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"token {info.name} revoked")


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"
