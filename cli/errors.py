"""Turn the errors an operator can fix (a database or broker that does not answer, a missing
schema) into one line that names what was tried: host and port, database, setting."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from settings import PREFIX, Settings, SettingsError, load_settings


def _settings() -> Settings | None:
    try:
        return load_settings()
    except SettingsError:
        return None


def database_target(settings: Settings | None) -> str:
    """``host:port/database (INSIDERS_DATABASE_URL)``, never the password."""
    if settings is None:
        return f"the database ({PREFIX}DATABASE_URL)"
    url = make_url(settings.database_url)
    if url.drivername.startswith("sqlite"):
        return f"the SQLite file {url.database} ({PREFIX}DATABASE_URL)"
    return (f"the database {url.database or '(none)'} at {url.host or 'localhost'}:"
            f"{url.port or 5432} ({PREFIX}DATABASE_URL)")


def broker_target(settings: Settings | None) -> str:
    if settings is None:
        return f"the broker ({PREFIX}BROKER_URL)"
    url = make_url(settings.broker_url.replace("sqla+", "", 1))
    if url.drivername.startswith("sqlite"):
        return f"the embedded broker file {url.database} ({PREFIX}BROKER_URL)"
    return f"the broker at {url.host or 'localhost'}:{url.port or 6379} ({PREFIX}BROKER_URL)"


def _first_line(exc: BaseException) -> str:
    origin = getattr(exc, "orig", None) or exc
    text = str(origin).strip().splitlines()
    return text[0].strip() if text else type(origin).__name__


def database_problem(exc: DBAPIError, target: str) -> str:
    """What went wrong with the database, in one line."""
    detail = _first_line(exc)
    lowered = str(getattr(exc, "orig", exc)).lower()
    if "connection refused" in lowered:
        return f"cannot connect to {target}: connection refused (is PostgreSQL running there?)"
    if "resolve host" in lowered or "name or service not known" in lowered:
        return f"cannot connect to {target}: no such host"
    if "timeout expired" in lowered or "timed out" in lowered:
        return f"cannot connect to {target}: no answer (timed out)"
    if "does not exist" in lowered and "database" in lowered and "connection" in lowered:
        return f"cannot use {target}: the database does not exist (create it first)"
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return f"cannot connect to {target}: the user name or password was refused"
    if ("relation" in lowered and "does not exist" in lowered) or "no such table" in lowered:
        return f"{target} has no Insiders tables: run `insiders db upgrade`"
    return f"{target} failed: {detail.removeprefix('connection failed: ')}"


def broker_problem(exc: BaseException, target: str) -> str:
    return f"cannot reach {target}: {_first_line(exc)}"


def is_broker_error(exc: BaseException) -> bool:
    """kombu's and redis's connection errors, told apart without importing either."""
    names = {cls.__module__.split(".")[0] + "." + cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"kombu.OperationalError", "redis.ConnectionError",
                         "redis.TimeoutError", "amqp.RecoverableConnectionError"})


def one_line(exc: BaseException) -> str | None:
    """The one-line message for ``exc``, or None when it is not an operator's error."""
    if isinstance(exc, DBAPIError):
        return database_problem(exc, database_target(_settings()))
    if is_broker_error(exc):
        return broker_problem(exc, broker_target(_settings()))
    return None
