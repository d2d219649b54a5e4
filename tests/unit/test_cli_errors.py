"""Every operator error is one line on stderr with exit code 2, naming what was tried."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from settings import load_settings

REPO = Path(__file__).resolve().parents[2]


def run(args: list[str], tmp_path: Path, **settings: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSIDERS_")}
    env.update(PYTHONPATH=str(REPO), INSIDERS_DATA_DIR=str(tmp_path), **settings)
    return subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)


def insiders(*args: str, tmp_path: Path, **settings: str) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "cli", *args], tmp_path, **settings)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith("error: ")
    return lines[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (a host that hangs)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


def test_closed_port_names_host_and_port(tmp_path):
    port = closed_port()
    line = one_error_line(insiders(
        "runs", tmp_path=tmp_path,
        INSIDERS_DATABASE_URL=f"postgresql://postgres:secret@127.0.0.1:{port}/insiders"))
    assert f"127.0.0.1:{port}" in line and "connection refused" in line
    assert "INSIDERS_DATABASE_URL" in line and "secret" not in line


def test_unknown_host_is_named(tmp_path):
    line = one_error_line(insiders(
        "runs", tmp_path=tmp_path,
        INSIDERS_DATABASE_URL="postgresql+psycopg2://postgres@no-such-host.invalid:5432/x"))
    assert "no-such-host.invalid:5432" in line and "no such host" in line


def test_a_host_that_never_answers_times_out(tmp_path, silent_server):
    line = one_error_line(insiders(
        "runs", tmp_path=tmp_path,
        INSIDERS_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{silent_server}/x"))
    assert f"127.0.0.1:{silent_server}" in line and "timed out" in line


@pytest.mark.parametrize("url", ["not a url", "postgresql://u:secret@host:port/db"])
def test_malformed_url_names_the_setting(tmp_path, url):
    line = one_error_line(insiders("runs", tmp_path=tmp_path, INSIDERS_DATABASE_URL=url))
    assert "INSIDERS_DATABASE_URL is not a database URL" in line and "secret" not in line


def test_debug_shows_the_traceback(tmp_path):
    result = insiders("--debug", "runs", tmp_path=tmp_path,
                      INSIDERS_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{closed_port()}/x")
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_celery_without_production_secrets_says_so_in_one_line(tmp_path):
    result = run([sys.executable, "-m", "celery", "-A", "worker.celery_app", "inspect", "ping"],
                 tmp_path, INSIDERS_ENV="production")
    line = one_error_line(result)
    assert "INSIDERS_SECRET_KEY" in line


@pytest.mark.parametrize("scheme", ["postgresql", "postgresql+psycopg", "postgresql+psycopg2",
                                    "postgres"])
def test_every_postgresql_spelling_uses_psycopg_3(scheme):
    url = load_settings({"INSIDERS_DATABASE_URL": f"{scheme}://u:p@db:5432/insiders"}).database_url
    assert url.startswith("postgresql+psycopg://u:p@db:5432/insiders?")
    assert "connect_timeout=10" in url


def test_an_explicit_connect_timeout_is_kept():
    url = load_settings(
        {"INSIDERS_DATABASE_URL": "postgresql://u@db/insiders?connect_timeout=3"}
    ).database_url
    assert url == "postgresql+psycopg://u@db/insiders?connect_timeout=3"


@pytest.mark.parametrize("module", ["cli", "worker.celery_app"])
def test_umap_spectral_fallback_warning_is_not_printed(tmp_path, module):
    code = (f"import warnings, {module}\n"
            "for _ in range(3):\n"
            "    with warnings.catch_warnings():\n"
            "        warnings.warn('Spectral initialisation failed! The eigenvector solver', "
            "UserWarning)\n")
    result = run([sys.executable, "-c", code], tmp_path)
    assert result.returncode == 0 and "Spectral" not in result.stderr, result.stderr
