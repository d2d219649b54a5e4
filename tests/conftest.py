"""Fixtures every test layer shares: where the real data and the real services are."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

from settings import load_settings

TEST_DATABASE_URL = os.environ.get(
    "INSIDERS_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/insiders_test"
)
TEST_REDIS_URL = os.environ.get("INSIDERS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def unavailable(reason: str) -> NoReturn:
    """Skip a test whose real service or data set is absent; fail in CI, which provides them all."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must provide it")
    pytest.skip(reason)


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
