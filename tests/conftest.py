"""Fixtures every test layer shares: where the real data and the real services are.

A service that is simply not there (connection refused, unknown host, database not created)
skips its tests outside CI and fails them in CI; any other error (a wrong password, a broken
database) fails everywhere. The end of every run says how many tests were skipped and why.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import psycopg
import pytest
import redis
from sqlalchemy.exc import OperationalError

from settings import load_settings

# ``make test`` runs two pytest-xdist workers ("gw0", "gw1"); each has its own databases and
# Redis numbers so that one worker's truncate or flush never reaches the other's tests.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def for_worker(url: str) -> str:
    """``url`` for this xdist worker: database ``name_gwN``, or Redis number ``n - 2N``."""
    if not XDIST_WORKER:
        return url
    index = int(XDIST_WORKER.removeprefix("gw"))
    base, _, last = url.rpartition("/")
    if url.startswith("redis"):
        return f"{base}/{int(last) - 2 * index}"
    return f"{base}/{last}_{XDIST_WORKER}"


TEST_DATABASE_URL = for_worker(os.environ.get(
    "INSIDERS_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/insiders_test"
))
TEST_REDIS_URL = for_worker(
    os.environ.get("INSIDERS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
)


T = TypeVar("T")
# what a service that is not there says; anything else is a real error
ABSENT = re.compile(
    r"connection refused|could not translate host name|failed to resolve host"
    r'|name or service not known|database "[^"]*" does not exist',
    re.IGNORECASE,
)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def unavailable(reason: str) -> NoReturn:
    """Skip a test whose real service or data set is absent; fail in CI, which provides them all."""
    if in_ci():
        pytest.fail(f"{reason}; CI must provide it")
    pytest.skip(reason)


def service_absent(exc: BaseException) -> bool:
    """True only when nothing answers there: refused, unknown host, database not created."""
    if isinstance(exc, redis.AuthenticationError):
        return False
    if not isinstance(exc, (OperationalError, psycopg.OperationalError, redis.ConnectionError)):
        return False
    return bool(ABSENT.search(str(exc)))


def reach(connect: Callable[[], T], what: str) -> T:
    """``connect()``, or skip (fail in CI) when ``what`` is absent; other errors propagate."""
    try:
        return connect()
    except Exception as exc:
        if not service_absent(exc):
            raise
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        unavailable(f"{what} not reachable: {first_line}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """A banner at the end (after pytest's own summary): how many tests did not run, and why."""
    yield
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    reasons: Counter[str] = Counter()
    for report in skipped:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reasons[reason.removeprefix("Skipped: ")] += 1
    terminalreporter.write_sep(
        "!", f"{len(skipped)} TESTS WERE SKIPPED: they did not run", red=True, bold=True
    )
    for reason, number in reasons.most_common():
        terminalreporter.write_line(f"{number:5d} x {reason}", red=True)
    terminalreporter.write_line(
        "Start the services with `make services` (CI=true turns every skip of a missing "
        "service or data set into a failure).", red=True
    )


@pytest.fixture(scope="session")
def real_data_path() -> Path:
    """The real Online Retail data set, found through INSIDERS_REAL_DATA."""
    path = load_settings().real_data
    if not path.exists():
        unavailable(f"real data set not found at {path} (set INSIDERS_REAL_DATA)")
    return path


@pytest.fixture(scope="session")
def pg_url() -> str:
    return TEST_DATABASE_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    return TEST_REDIS_URL
