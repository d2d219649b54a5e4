"""Every setting of Insiders, read once from ``INSIDERS_*`` environment variables.

Defaults make the embedded mode work with nothing configured: a SQLite file and a
serverless broker (kombu's SQLAlchemy transport on a second SQLite file) under
``INSIDERS_DATA_DIR``, so separate processes (worker, CLI, dashboard) share one queue.
Production (``INSIDERS_ENV=production``) refuses to start without a database URL,
a broker URL and a secret key.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

PREFIX = "INSIDERS_"
DEVELOPMENT_SECRET = "insiders-development-only-secret"
ARTIFACT_KEY_FILE = "artifact.key"
MIN_SECRET_BYTES = 32
# the placeholder of .env.example: production refuses any setting still holding it
PLACEHOLDER = "change-me"
# the project installs psycopg 3 only; these spellings (SQLAlchemy's docs show psycopg2) mean it
POSTGRES_DRIVERS = {"postgres", "postgresql", "postgresql+psycopg2", "postgresql+psycopg"}
CONNECT_TIMEOUT_SECONDS = 10


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message names the variable."""


def _raw(name: str, env: dict[str, str]) -> str | None:
    value = env.get(PREFIX + name)
    return value if value not in (None, "") else None


def _str(name: str, default: str | None, env: dict[str, str]) -> str | None:
    value = _raw(name, env)
    return default if value is None else value


def _int(name: str, default: int, env: dict[str, str]) -> int:
    value = _raw(name, env)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name} must be an integer, got {value!r}") from None


def _count(name: str, default: int, env: dict[str, str]) -> int:
    value = _int(name, default, env)
    if value < 0:
        raise SettingsError(f"{PREFIX}{name} must be 0 or more, got {value}")
    return value


def _positive(name: str, default: int, env: dict[str, str]) -> int:
    value = _int(name, default, env)
    if value < 1:
        raise SettingsError(f"{PREFIX}{name} must be 1 or more, got {value}")
    return value


def _float(name: str, default: float, env: dict[str, str]) -> float:
    value = _raw(name, env)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name} must be a number, got {value!r}") from None


def _share(name: str, default: float, env: dict[str, str]) -> float:
    value = _float(name, default, env)
    if not 0.0 <= value <= 1.0:
        raise SettingsError(f"{PREFIX}{name} must be between 0 and 1, got {value}")
    return value


def _bool(name: str, default: bool, env: dict[str, str]) -> bool:
    value = _raw(name, env)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{PREFIX}{name} must be true or false, got {value!r}")


def _cron(name: str, default: str, env: dict[str, str]) -> str:
    value = _str(name, default, env) or default
    if len(value.split()) != 5:
        raise SettingsError(
            f"{PREFIX}{name} must be a 5-field cron string like '0 3 * * *', got {value!r}"
        )
    return value


def _database_url(value: str) -> str:
    """``value`` checked, with every PostgreSQL spelling pointed at psycopg 3."""
    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        raise SettingsError(
            f"{PREFIX}DATABASE_URL is not a database URL: expected "
            "postgresql://USER:PASSWORD@HOST:PORT/DATABASE or sqlite:///PATH"
        ) from None
    if url.drivername in POSTGRES_DRIVERS:
        url = url.set(drivername="postgresql+psycopg")
        if "connect_timeout" not in url.query:
            # an unreachable host fails in seconds, not after the system's TCP timeout
            url = url.update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT_SECONDS)})
    return url.render_as_string(hide_password=False)


def _optional_path(name: str, env: dict[str, str]) -> Path | None:
    value = _raw(name, env)
    return None if value is None else Path(value).expanduser()


CURRENCY_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$", "JPY": "¥"}


def _currency(value: str) -> str:
    """INSIDERS_CURRENCY as the symbol to write: an ISO code we know (GBP) or the symbol."""
    value = value.strip()
    return CURRENCY_SYMBOLS.get(value.upper(), value)


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    data_dir: Path = Path(".insiders")
    database_url: str = ""
    broker_url: str = ""
    result_backend: str = ""
    embedded: bool = True
    secret_key: str = ""
    debug: bool = False
    real_data: Path = Path("../shared/data/online_retail.parquet")
    profile: str = "online-retail"
    # the symbol money is shown with (the real data is in pounds sterling)
    currency: str = "£"
    random_state: int = 42
    n_clusters: int = 7
    schedule_cron: str = "0 3 * * *"
    refit_every_days: int = 28
    # looking ahead: predictions cover forecast_horizon_days after the as-of date; an Insider is
    # at risk when, buying nothing, they would leave within at_risk_days, or when their chance
    # of still being an active customer is below at_risk_probability (0 turns that test off)
    forecast_horizon_days: int = 90
    at_risk_days: int = 30
    at_risk_probability: float = 0.5
    task_soft_time_limit: int = 1800
    task_hard_time_limit: int = 2100
    heartbeat_seconds: int = 10
    stale_after_seconds: int = 120
    queued_timeout_seconds: int = 3600
    reaper_every_seconds: int = 60
    # scoring runs above partition_rows customers are split into partitions of about that
    # many, scored by whichever worker processes are free; partitions > 0 fixes their number
    partition_rows: int = 100_000
    partitions: int = 0
    # a refit fits its model on a sample of at most fit_customers customers (drawn by the
    # database); above it, the refit's customers are scored in partitions too
    fit_customers: int = 20_000
    # worker processes an `insiders worker` starts (its --concurrency when not given)
    worker_concurrency: int = 1
    run_rate_limit: str = "5 per minute"
    admin_user: str = ""
    admin_password: str = ""
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8050
    # ingest rejects rows above these (absolute) values: typing slips, not real sales
    max_unit_price: int = 100_000
    max_quantity: int = 1_000_000
    db_worker_role: str = ""
    db_dashboard_role: str = ""
    artifact_key: str = ""
    inbox_dir: Path | None = None
    # webhooks: links in payloads start with public_url; a failed delivery is retried after
    # backoff, 2x backoff, 4x ... until webhook_max_age_hours after the event
    public_url: str = "http://127.0.0.1:8050"
    webhook_inline_limit: int = 1000
    webhook_backoff_seconds: float = 30.0
    webhook_max_age_hours: int = 24
    webhook_timeout_seconds: int = 10
    # how many proxies (TLS terminators) stand in front of the dashboard: their X-Forwarded-*
    # headers are believed for that many hops, so the scheme is the one the browser used
    trusted_proxies: int = 0

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def model_artifact_key(self) -> bytes:
        """The key model artifacts are signed with: ``INSIDERS_ARTIFACT_KEY`` (required in
        production, where only the worker is given it), else a random key kept in
        ``<data dir>/artifact.key`` (created on first use, readable by its owner only)."""
        if self.artifact_key:
            if len(self.artifact_key.encode()) < MIN_SECRET_BYTES:
                raise SettingsError(f"{PREFIX}ARTIFACT_KEY must be at least "
                                    f"{MIN_SECRET_BYTES} bytes")
            return self.artifact_key.encode()
        if self.is_production:
            raise SettingsError(f"production mode needs {PREFIX}ARTIFACT_KEY for the worker "
                                "(a random string of 32 bytes or more; see README)")
        return _local_key(self.data_dir / ARTIFACT_KEY_FILE)


def _local_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_hex(32))
    return path.read_bytes().strip()


def _refuse_unsafe_production(env: dict[str, str]) -> None:
    """Production never runs with debug on, a placeholder value or a short secret key."""
    if _bool("DEBUG", False, env):
        raise SettingsError(f"production mode refuses {PREFIX}DEBUG=true (it shows internals)")
    placeholders = sorted(
        name for name, value in env.items()
        if name.startswith((PREFIX, "FLOWER_")) and PLACEHOLDER in (value or "").lower()
    )
    if placeholders:
        raise SettingsError(
            "production mode refuses the example values: " + ", ".join(placeholders)
            + f" still contain {PLACEHOLDER!r} (see .env.example)"
        )
    if len((_raw("SECRET_KEY", env) or "").encode()) < MIN_SECRET_BYTES:
        raise SettingsError(
            f"production mode needs {PREFIX}SECRET_KEY of at least {MIN_SECRET_BYTES} bytes "
            "(a random string: `python -c 'import secrets; print(secrets.token_hex(32))'`)"
        )


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read settings from ``env`` (default ``os.environ``); raise SettingsError on a bad one."""
    env = dict(os.environ if env is None else env)
    mode = (_str("ENV", Settings.env, env) or Settings.env).lower()
    if mode not in {"development", "production", "test"}:
        raise SettingsError(
            f"{PREFIX}ENV must be development, production or test, got {mode!r}"
        )
    data_dir = Path(_str("DATA_DIR", str(Settings.data_dir), env) or Settings.data_dir).expanduser()
    database_url = _str("DATABASE_URL", None, env)
    broker_url = _str("BROKER_URL", None, env)
    secret_key = _str("SECRET_KEY", None, env)
    if mode == "production":
        missing = [
            PREFIX + name
            for name, value in (
                ("DATABASE_URL", database_url),
                ("BROKER_URL", broker_url),
                ("SECRET_KEY", secret_key),
            )
            if value is None
        ]
        if missing:
            raise SettingsError(
                "production mode needs " + ", ".join(missing) + " to be set (see README)"
            )
        _refuse_unsafe_production(env)
    embedded = broker_url is None
    soft = _int("TASK_SOFT_TIME_LIMIT", Settings.task_soft_time_limit, env)
    hard = _int("TASK_HARD_TIME_LIMIT", soft + 300, env)
    if hard <= soft:
        raise SettingsError(
            f"{PREFIX}TASK_HARD_TIME_LIMIT ({hard}) must exceed "
            f"{PREFIX}TASK_SOFT_TIME_LIMIT ({soft})"
        )
    defaults = Settings()
    return Settings(
        env=mode,
        data_dir=data_dir,
        database_url=_database_url(database_url)
        if database_url
        else f"sqlite:///{(data_dir / 'insiders.db').resolve()}",
        broker_url=broker_url or f"sqla+sqlite:///{(data_dir / 'broker.db').resolve()}",
        result_backend=_str("RESULT_BACKEND", defaults.result_backend, env) or "",
        embedded=embedded,
        secret_key=secret_key or DEVELOPMENT_SECRET,
        debug=_bool("DEBUG", defaults.debug, env),
        real_data=Path(_str("REAL_DATA", str(defaults.real_data), env) or "").expanduser(),
        profile=_str("PROFILE", defaults.profile, env) or defaults.profile,
        currency=_currency(_str("CURRENCY", defaults.currency, env) or defaults.currency),
        random_state=_int("RANDOM_STATE", defaults.random_state, env),
        n_clusters=_int("N_CLUSTERS", defaults.n_clusters, env),
        schedule_cron=_cron("SCHEDULE", defaults.schedule_cron, env),
        refit_every_days=_int("REFIT_EVERY_DAYS", defaults.refit_every_days, env),
        forecast_horizon_days=_count("FORECAST_HORIZON_DAYS", defaults.forecast_horizon_days, env),
        at_risk_days=_count("AT_RISK_DAYS", defaults.at_risk_days, env),
        at_risk_probability=_share("AT_RISK_PROBABILITY", defaults.at_risk_probability, env),
        task_soft_time_limit=soft,
        task_hard_time_limit=hard,
        heartbeat_seconds=_int("HEARTBEAT_SECONDS", defaults.heartbeat_seconds, env),
        stale_after_seconds=_int("STALE_AFTER_SECONDS", defaults.stale_after_seconds, env),
        queued_timeout_seconds=_int("QUEUED_TIMEOUT_SECONDS", defaults.queued_timeout_seconds, env),
        reaper_every_seconds=_int("REAPER_EVERY_SECONDS", defaults.reaper_every_seconds, env),
        partition_rows=_positive("PARTITION_ROWS", defaults.partition_rows, env),
        partitions=_count("PARTITIONS", defaults.partitions, env),
        fit_customers=_positive("FIT_CUSTOMERS", defaults.fit_customers, env),
        worker_concurrency=_positive("WORKER_CONCURRENCY", defaults.worker_concurrency, env),
        run_rate_limit=_str("RUN_RATE_LIMIT", defaults.run_rate_limit, env)
        or defaults.run_rate_limit,
        admin_user=_str("ADMIN_USER", "", env) or "",
        admin_password=_str("ADMIN_PASSWORD", "", env) or "",
        dashboard_host=_str("DASHBOARD_HOST", defaults.dashboard_host, env)
        or defaults.dashboard_host,
        dashboard_port=_int("DASHBOARD_PORT", defaults.dashboard_port, env),
        max_unit_price=_int("MAX_UNIT_PRICE", defaults.max_unit_price, env),
        max_quantity=_int("MAX_QUANTITY", defaults.max_quantity, env),
        db_worker_role=_str("DB_WORKER_ROLE", "", env) or "",
        db_dashboard_role=_str("DB_DASHBOARD_ROLE", "", env) or "",
        artifact_key=_str("ARTIFACT_KEY", "", env) or "",
        inbox_dir=_optional_path("INBOX_DIR", env),
        public_url=(_str("PUBLIC_URL", defaults.public_url, env) or "").rstrip("/"),
        webhook_inline_limit=_int("WEBHOOK_INLINE_LIMIT", defaults.webhook_inline_limit, env),
        webhook_backoff_seconds=_float(
            "WEBHOOK_BACKOFF_SECONDS", defaults.webhook_backoff_seconds, env
        ),
        webhook_max_age_hours=_int("WEBHOOK_MAX_AGE_HOURS", defaults.webhook_max_age_hours, env),
        webhook_timeout_seconds=_int(
            "WEBHOOK_TIMEOUT_SECONDS", defaults.webhook_timeout_seconds, env
        ),
        trusted_proxies=_count("TRUSTED_PROXIES", defaults.trusted_proxies, env),
    )
