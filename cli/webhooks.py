"""``insiders webhook``: subscriptions, deliveries, a test message and replays."""

from __future__ import annotations

import click

from migrations import ready_engine
from settings import load_settings
from store import webhooks
from store.db import session_scope
from store.queue import send_webhook_task
from worker.webhook_delivery import deliver


@click.group("webhook")
def webhook() -> None:
    """Signed webhooks: who is told about runs, and what was sent."""


@webhook.command("add")
@click.argument("url")
@click.option("--event", "events", multiple=True, type=click.Choice(webhooks.EVENT_TYPES),
              help="An event to send (repeatable; default: run.succeeded and run.failed).")
@click.option("--secret", default=None, help="A whsec_ secret (default: a new random one).")
@click.option("--description", default="", help="What the receiver is.")
def add(url: str, events: tuple[str, ...], secret: str | None, description: str) -> None:
    """Send events to URL; prints the secret receivers verify signatures with."""
    engine = ready_engine(load_settings())
    try:
        with session_scope(engine) as session:
            subscription = webhooks.add_subscription(
                session, url, list(events or ("run.succeeded", "run.failed")), secret=secret,
                description=description, created_by="cli",
            )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"webhook {subscription.id}: {subscription.url} "
               f"({', '.join(subscription.event_types)})")
    click.echo(f"secret (give it to the receiver): {subscription.secret}")


@webhook.command("list")
def list_command() -> None:
    """Subscriptions and the events they receive."""
    with session_scope(ready_engine(load_settings())) as session:
        subscriptions = webhooks.list_subscriptions(session)
        lines = [f"{s.id}  {s.url}  {', '.join(s.event_types)}  {s.description}"
                 for s in subscriptions]
    click.echo("\n".join(lines) if lines else "no webhooks")


@webhook.command("remove")
@click.argument("subscription_id", type=int)
def remove(subscription_id: int) -> None:
    """Stop sending to a subscription (its delivery log goes with it)."""
    with session_scope(ready_engine(load_settings())) as session:
        if not webhooks.remove_subscription(session, subscription_id):
            raise click.ClickException(f"there is no webhook {subscription_id}")
    click.echo(f"webhook {subscription_id} removed")


@webhook.command("test")
@click.argument("subscription_id", type=int)
def test(subscription_id: int) -> None:
    """Send a signed ``webhook.test`` message now and show the receiver's answer."""
    settings = load_settings()
    engine = ready_engine(settings)
    with session_scope(engine) as session:
        if webhooks.get_subscription(session, subscription_id) is None:
            raise click.ClickException(f"there is no webhook {subscription_id}")
        webhooks.record_deliveries(session.connection(), [subscription_id], "webhook.test",
                                   [{"message": "a test from Insiders"}], run_id=None)
        delivery_id = max(webhooks.pending_delivery_ids(session))
    deliver(delivery_id, engine=engine, settings=settings)
    with session_scope(engine) as session:
        attempt = webhooks.attempts_of(session, delivery_id)[-1]
        click.echo(f"answer: {attempt.status_code or attempt.error} in {attempt.duration_ms} ms"
                   + (f": {attempt.response_excerpt}" if attempt.response_excerpt else ""))
        delivered = webhooks.get_delivery(session, delivery_id).status == webhooks.DELIVERED
    if not delivered:
        raise click.ClickException("the receiver did not accept the test message")


@webhook.command("deliveries")
@click.option("--limit", default=20, show_default=True)
def deliveries(limit: int) -> None:
    """The newest deliveries and their status."""
    with session_scope(ready_engine(load_settings())) as session:
        for row in webhooks.recent_deliveries(session, limit):
            click.echo(f"{row['id']}  {row['message_id']}  {row['event_type']}  run "
                       f"{row['run_id'] or '-'}  {row['status']} after {row['attempts']} "
                       f"attempt(s)  {row['url']}")


@webhook.command("replay")
@click.argument("delivery_id", type=int)
def replay(delivery_id: int) -> None:
    """Send a delivery again, with the same webhook-id (receivers may drop it as a duplicate)."""
    with session_scope(ready_engine(load_settings())) as session:
        if not webhooks.replay_delivery(session, delivery_id):
            raise click.ClickException(f"there is no delivery {delivery_id}")
    send_webhook_task(delivery_id)
    click.echo(f"delivery {delivery_id} queued again")
