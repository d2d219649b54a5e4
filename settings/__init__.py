"""Every setting of Insiders, read once from ``INSIDERS_*`` environment variables.

Defaults make the embedded mode work with nothing configured: a SQLite file and a
serverless broker (kombu's SQLAlchemy transport on a second SQLite file) under
``INSIDERS_DATA_DIR``, so separate processes (worker, CLI, dashboard) share one queue.
Production (``INSIDERS_ENV=production``) refuses to start without a database URL,
a broker URL and a secret key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PREFIX = "INSIDERS_"
DEVELOPMENT_SECRET = "insiders-development-only-secret"


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
    random_state: int = 42
    n_clusters: int = 7
    schedule_cron: str = "0 3 * * *"
    refit_every_days: int = 28
    task_soft_time_limit: int = 1800
    task_hard_time_limit: int = 2100
    heartbeat_seconds: int = 10
    stale_after_seconds: int = 120
    queued_timeout_seconds: int = 3600
    reaper_every_seconds: int = 60
    rerun_rate_limit: str = "5 per minute"
    admin_user: str = ""
    admin_password: str = ""
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8050

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


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
        database_url=database_url or f"sqlite:///{(data_dir / 'insiders.db').resolve()}",
        broker_url=broker_url or f"sqla+sqlite:///{(data_dir / 'broker.db').resolve()}",
        result_backend=_str("RESULT_BACKEND", defaults.result_backend, env) or "",
        embedded=embedded,
        secret_key=secret_key or DEVELOPMENT_SECRET,
        debug=_bool("DEBUG", defaults.debug, env),
        real_data=Path(_str("REAL_DATA", str(defaults.real_data), env) or "").expanduser(),
        profile=_str("PROFILE", defaults.profile, env) or defaults.profile,
        random_state=_int("RANDOM_STATE", defaults.random_state, env),
        n_clusters=_int("N_CLUSTERS", defaults.n_clusters, env),
        schedule_cron=_cron("SCHEDULE", defaults.schedule_cron, env),
        refit_every_days=_int("REFIT_EVERY_DAYS", defaults.refit_every_days, env),
        task_soft_time_limit=soft,
        task_hard_time_limit=hard,
        heartbeat_seconds=_int("HEARTBEAT_SECONDS", defaults.heartbeat_seconds, env),
        stale_after_seconds=_int("STALE_AFTER_SECONDS", defaults.stale_after_seconds, env),
        queued_timeout_seconds=_int("QUEUED_TIMEOUT_SECONDS", defaults.queued_timeout_seconds, env),
        reaper_every_seconds=_int("REAPER_EVERY_SECONDS", defaults.reaper_every_seconds, env),
        rerun_rate_limit=_str("RERUN_RATE_LIMIT", defaults.rerun_rate_limit, env)
        or defaults.rerun_rate_limit,
        admin_user=_str("ADMIN_USER", "", env) or "",
        admin_password=_str("ADMIN_PASSWORD", "", env) or "",
        dashboard_host=_str("DASHBOARD_HOST", defaults.dashboard_host, env)
        or defaults.dashboard_host,
        dashboard_port=_int("DASHBOARD_PORT", defaults.dashboard_port, env),
    )
