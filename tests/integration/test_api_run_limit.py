"""POST /api/v1/runs on PostgreSQL: the run limit per token holds under concurrent requests
(the token's row is locked while its recent requests are counted)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from dashboard.app import create_app
from settings import load_settings
from store.db import session_scope
from store.runs import fail_run
from store.tokens import create_token

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

REQUESTS, LIMIT = 20, 5


@pytest.fixture
def api(clean_db, pg_url, tmp_path):
    with clean_db.begin() as connection:
        connection.execute(text("DELETE FROM api_tokens"))
    settings = load_settings({"INSIDERS_ENV": "test", "INSIDERS_DATABASE_URL": pg_url,
                              "INSIDERS_DATA_DIR": str(tmp_path),
                              "INSIDERS_RUN_RATE_LIMIT": f"{LIMIT} per minute"})
    app = create_app(settings, clean_db)

    def finish_at_once(run_id: int) -> None:
        # the run stops being active at once, so a later accepted request gets 202, not 409
        with session_scope(clean_db) as session:
            fail_run(session, run_id, "not run: rate limit test")

    app.server.extensions["insiders_api"].config["INSIDERS_API_ENQUEUE"] = finish_at_once
    with session_scope(clean_db) as session:
        token = create_token(session, "crm-runner", "run")[1]
    yield app.server, token
    with clean_db.begin() as connection:
        connection.execute(text("DELETE FROM api_tokens"))


def test_twenty_concurrent_posts_at_five_per_minute_start_exactly_five(api, clean_db):
    server, token = api
    headers = {"Authorization": f"Bearer {token}"}

    def post(_index: int) -> int:
        return server.test_client().post("/api/v1/runs", headers=headers, json={}).status_code

    with ThreadPoolExecutor(REQUESTS) as pool:
        statuses = list(pool.map(post, range(REQUESTS)))
    assert statuses.count(429) == REQUESTS - LIMIT, statuses
    with clean_db.connect() as connection:
        not_started = connection.execute(text(
            "SELECT details FROM audit_log WHERE action = 'run_not_started'")).scalars().all()
    assert set(statuses) <= {202, 409, 429} and statuses.count(202) >= 1, (statuses, not_started)
    with clean_db.connect() as connection:
        requested = connection.execute(text(
            "SELECT count(*) FROM audit_log WHERE action = 'run_requested' "
            "AND username = 'token:crm-runner'")).scalar_one()
        refused = connection.execute(text(
            "SELECT count(*) FROM audit_log WHERE action = 'run_refused'")).scalar_one()
        started = connection.execute(text("SELECT count(*) FROM runs")).scalar_one()
    assert (requested, refused) == (LIMIT, REQUESTS - LIMIT)
    assert started == statuses.count(202)
