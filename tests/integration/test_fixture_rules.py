"""Against the real PostgreSQL: a database that is not there skips (outside CI), a role the
server refuses is an error that fails the tests, never a skip."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from tests.conftest import reach

from .conftest import REPO

pytestmark = pytest.mark.integration


def run_pytest(test: str, database_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "INSIDERS_TEST_DATABASE_URL": database_url, "PYTHONPATH": str(REPO)}
    env.pop("CI", None)
    env.pop("PYTEST_XDIST_WORKER", None)  # the inner run is not an xdist worker
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", test],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )


def test_a_refused_role_fails_instead_of_skipping(pg_engine, pg_url):
    wrong = make_url(pg_url).set(username="insiders_no_such_role")
    result = run_pytest("tests/integration/test_trigger.py",
                        wrong.render_as_string(hide_password=False))
    assert result.returncode == 1, result.stdout[-3000:]
    assert "insiders_no_such_role" in result.stdout and " skipped" not in result.stdout


@pytest.mark.parametrize(("ci", "outcome"), [(None, pytest.skip.Exception),
                                              ("true", pytest.fail.Exception)])
def test_a_database_that_is_not_there_skips_outside_ci_and_fails_in_it(
    pg_engine, pg_url, monkeypatch, ci, outcome
):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    engine = create_engine(make_url(pg_url).set(database="insiders_never_created"))
    with pytest.raises(outcome, match="does not exist"):
        reach(lambda: engine.connect().close(), "PostgreSQL")
    engine.dispose()
