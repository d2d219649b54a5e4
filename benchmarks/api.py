"""REST API speed at 100k customers x 24 runs in PostgreSQL (seeded as benchmarks/dashboard.py
does, with COPY, and a contact for every customer): p50 and p95 of GET current Insiders
(1,000 per page) and of the current run's changes, through the dashboard's server (Flask
test client: token check, limit, read, JSON), cold (per-run cache emptied and no table being
built before each call: a page by keyset) and cached. Prints figures only.

    python benchmarks/api.py [--customers 100000] [--runs 24] [--repeat 20] [--no-seed]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.dashboard import BENCH_URL, machine, seeded_engine, size_arguments
from dashboard import cache
from dashboard.api import paging
from dashboard.app import create_app
from settings import load_settings
from store.db import session_scope
from store.tokens import create_token

PATHS = {
    "GET /runs/current/insiders?limit=1000": "/api/v1/runs/current/insiders?limit=1000",
    "GET /runs/current/insiders (next page)": None,
    "GET /runs/current/changes?limit=1000": "/api/v1/runs/current/changes?limit=1000",
    "GET /runs/current/changes (CSV)": "/api/v1/runs/current/changes?limit=1000",
}


def seed_contacts(conn, customers: int) -> None:
    """Contact details for every seeded customer (about 60% agree to marketing), as
    ``insiders customers import`` would leave them; kept when already there."""
    conn.execute(text(
        "INSERT INTO customer_contacts (customer_id, email, name, country, marketing_consent, "
        "updated_at) SELECT g, 'customer' || g || '@example.com', 'Customer ' || g, "
        "'United Kingdom', g % 5 < 3, now() FROM generate_series(10000, :last) AS g "
        "ON CONFLICT (customer_id) DO NOTHING"), {"last": 10_000 + customers - 1})


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def timed(client, path: str, headers: dict, repeat: int, cold: bool) -> list[float]:
    client.get(path, headers=headers).close()  # warm-up: connections, imports
    paging.settle()
    times = []
    for _ in range(repeat):
        if cold:  # nothing kept and nothing being built
            paging.settle()
            cache.clear()
        start = time.perf_counter()
        response = client.get(path, headers=headers)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        response.close()  # as a server does once it has sent the answer
    return times


def main() -> None:
    args = size_arguments(__doc__.splitlines()[0]).parse_args()
    engine = seeded_engine(args)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM api_tokens WHERE name = 'bench'"))
        seed_contacts(conn, args.customers)
    with session_scope(engine) as session:
        token = create_token(session, "bench", "read")[1]
    print(machine(engine))
    settings = load_settings({"INSIDERS_DATABASE_URL": BENCH_URL})
    client = create_app(settings, engine).server.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    first = client.get(PATHS["GET /runs/current/insiders?limit=1000"], headers=auth).get_json()
    cursor = first["next_cursor"]
    print(f"current run: {first['total']:,} Insiders; target p95 < 200 ms")
    print(f"{'request':<42} {'cold p50':>9} {'cold p95':>9} {'cached p50':>11} "
          f"{'cached p95':>11}")
    for name, path in PATHS.items():
        headers = {**auth, "Accept": "text/csv"} if "CSV" in name else auth
        if path is None:
            path = f"/api/v1/runs/current/insiders?limit=1000&cursor={cursor}"
        cold = timed(client, path, headers, args.repeat, cold=True)
        warm = timed(client, path, headers, args.repeat, cold=False)
        print(f"{name:<42} {statistics.median(cold):9.1f} {p95(cold):9.1f} "
              f"{statistics.median(warm):11.1f} {p95(warm):11.1f}")


if __name__ == "__main__":
    main()
