"""The rules of the service fixtures: only an absent service skips (and only outside CI),
any other error fails, and every run ends by saying how many tests were skipped and why."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import redis

from tests.conftest import reach, service_absent

REPO = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("exc", "absent"),
    [(psycopg.OperationalError('connection to server at "127.0.0.1", port 1 failed: '
                               "Connection refused"), True),
     (psycopg.OperationalError("failed to resolve host 'db': Name or service not known"), True),
     (psycopg.OperationalError('FATAL:  database "insiders_test" does not exist'), True),
     (psycopg.OperationalError('FATAL:  password authentication failed for user "x"'), False),
     (psycopg.OperationalError('FATAL:  role "nobody" does not exist'), False),
     (redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused."), True),
     (redis.AuthenticationError("invalid username-password pair"), False),
     (ValueError("connection refused"), False)],
)
def test_only_a_service_that_is_not_there_counts_as_absent(exc, absent):
    assert service_absent(exc) is absent


def test_a_real_refused_connection_skips_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    client = redis.Redis(host="127.0.0.1", port=closed_port(), socket_connect_timeout=2)
    with pytest.raises(pytest.skip.Exception, match=r"Redis at .* not reachable"):
        reach(client.ping, "Redis at 127.0.0.1")


def test_an_absent_service_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    client = redis.Redis(host="127.0.0.1", port=closed_port(), socket_connect_timeout=2)
    with pytest.raises(pytest.fail.Exception, match="CI must provide it"):
        reach(client.ping, "Redis")


def test_any_other_error_fails_even_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)

    def wrong_password():
        raise psycopg.OperationalError('FATAL:  password authentication failed for user "x"')

    with pytest.raises(psycopg.OperationalError, match="password authentication"):
        reach(wrong_password, "PostgreSQL")


def test_the_end_of_a_run_says_how_many_tests_were_skipped_and_why(tmp_path):
    (tmp_path / "conftest.py").write_text("from tests.conftest import pytest_terminal_summary\n")
    (tmp_path / "test_some.py").write_text(
        "import pytest\n"
        "def test_runs(): pass\n"
        "@pytest.mark.parametrize('n', [1, 2])\n"
        "def test_needs_redis(n): pytest.skip('Redis not reachable')\n"
        "def test_needs_data(): pytest.skip('real data set not found')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("CI", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout
    assert "3 TESTS WERE SKIPPED" in result.stdout
    assert "    2 x Redis not reachable" in result.stdout
    assert "    1 x real data set not found" in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith("1 passed, 3 skipped")


def test_ci_script_turns_skips_into_failures():
    assert "export CI=true" in (REPO / ".ci" / "run").read_text()
