"""Dashboard speed with 100k customers x 24 runs in PostgreSQL.

Seeds database ``insiders_bench`` with COPY (runs, clusters, labels, events, model versions),
then times every data-layer call and every Dash callback over HTTP (Flask test client, the
full request path: session, guard, callback, JSON), and a first page load. Prints figures and
the machine; writes nothing else.

    python benchmarks/dashboard.py [--customers 100000] [--runs 24] [--repeat 20] [--no-seed]
                                   [--browser] [--without-index | --no-seed --write-index]
                                   [--no-seed --write-summary]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.columns import FEATURE_COLUMNS
from store.schema import Cluster, ModelVersion, Run

BENCH_URL = os.environ.get(
    "INSIDERS_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/insiders_bench"
)
NAMES = ["Insiders", "Loyal regulars", "Big baskets", "New promising", "Occasional buyers",
         "Bargain hunters", "Lapsed"]
COLORS = ["#d4a017", "#2c7fb8", "#e6550d", "#41ab5d", "#9e9ac8", "#fd8d3c", "#969696"]
TABLES = "membership_events, clusters, runs, model_versions, audit_log, users"


def month_ends(n: int) -> list[date]:
    ends, year, month = [], 2010, 1
    for _ in range(n):
        month += 1
        if month > 12:
            year, month = year + 1, 1
        ends.append(date(year, month, 1) - timedelta(days=1))
    return ends


def _copy(conn, table: str, frame: pd.DataFrame) -> None:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False)
    columns = ", ".join(frame.columns)
    raw = conn.connection.dbapi_connection
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT csv)") \
            as copy:
        copy.write(buffer.getvalue())


def _write_labels(conn, run_id: int, labels: pd.DataFrame, spans: bool) -> None:
    """A run's labels as its publication stores them: spans (and its map points) since issue
    11's labels as changes, a row per customer before."""
    if not spans:
        _copy(conn, "customer_labels", labels)
        return
    from store.results import publish_run_labels

    _copy(conn, "label_stage", labels)
    publish_run_labels(conn, run_id)


def _labels(rng, run_id: int, ids: np.ndarray, base: np.ndarray, drift: float) -> pd.DataFrame:
    revenue = np.round(base * (1 + drift * rng.standard_normal(len(ids)) * 0.2), 2).clip(1)
    cluster = np.digitize(revenue, np.quantile(revenue, [0.25, 0.4, 0.55, 0.7, 0.8, 0.92]))
    cluster = 6 - cluster  # the top revenue band is cluster 0, the Insiders cluster
    frame = pd.DataFrame({
        "run_id": run_id, "customer_id": ids, "cluster": cluster,
        "is_insiders": cluster == 0, "gross_revenue": revenue,
        "recency_days": rng.integers(0, 370, len(ids)),
        "invoice_quantity": rng.integers(1, 60, len(ids)),
        "items_quantity": rng.integers(1, 5000, len(ids)),
        "products_quantity": rng.integers(1, 400, len(ids)),
        "avg_ticket": np.round(rng.gamma(2.0, 15.0, len(ids)), 2),
        "embedding_x": cluster * 4 + rng.standard_normal(len(ids)),
        "embedding_y": rng.standard_normal(len(ids)) * 2,
    })
    return frame


def _events(run_id: int, before: pd.DataFrame, after: pd.DataFrame,
            legacy: bool = False) -> pd.DataFrame:
    """Who crossed the seeded thresholds, with the reason and details today's worker stores
    (``pipeline.reasons.explain``'s: a sentence in pounds); ``legacy``: the code-like reason
    and bare details of runs written before the sentences, which readers rebuild."""
    from pipeline.reasons import sentences, wording

    merged = after[["customer_id", "is_insiders", "gross_revenue"]].merge(
        before[["customer_id", "is_insiders", "gross_revenue"]], on="customer_id", how="left",
        suffixes=("", "_before"))
    was = merged["is_insiders_before"].fillna(False).astype(bool)
    moved = merged[merged["is_insiders"] != was]
    kind = np.where(moved["is_insiders"], "entered", "exited")
    levels = np.where(moved["is_insiders"], 2500.0, 1800.0)  # the seeded thresholds
    befores = moved["gross_revenue_before"].fillna(0).tolist()
    afters = moved["gross_revenue"].tolist()
    if legacy:
        details = [{"feature": "gross_revenue", "before": b, "after": a, "threshold": t}
                   for b, a, t in zip(befores, afters, levels.tolist(), strict=True)]
        reasons = [f"gross revenue {'rose above' if k == 'entered' else 'fell below'} the "
                   f"threshold ({b:,.0f} -> {a:,.0f})"
                   for k, b, a in zip(kind, befores, afters, strict=True)]
    else:
        details = []
        for k, b, a, t in zip(kind, befores, afters, levels.tolist(), strict=True):
            condition = {"feature": "gross_revenue", "op": ">=" if k == "entered" else "<",
                         "threshold": t, "before": b, "after": a}
            details.append({**condition, "model_version": 1 + run_id // 10,
                            "conditions": [condition], "wording": wording("£")})
        reasons = sentences(kind.tolist(), ["feature"] * len(kind), details, "£")
    return pd.DataFrame({
        "run_id": run_id, "previous_run_id": run_id - 1, "customer_id": moved["customer_id"],
        "kind": kind, "cause": "feature", "reason": reasons,
        "details": [json.dumps(d) for d in details],
    })


def seed(engine, customers: int, runs: int, seed_value: int = 0,
         legacy_reasons: bool = False, forecasts: bool = True, index: bool = True) -> None:
    """100k customers x 24 monthly runs (customers join over time), written with COPY."""
    import migrations

    migrations.upgrade(BENCH_URL)
    rng = np.random.default_rng(seed_value)
    all_ids = np.arange(10_000, 10_000 + customers, dtype=np.int64)
    base = rng.gamma(1.1, 900.0, customers)
    joined = np.sort(rng.integers(0, runs, customers))
    joined[: customers // 2] = 0
    now = datetime(2012, 1, 1, tzinfo=UTC)
    thresholds = {"entry": {"gross_revenue": {"op": ">=", "value": 2500.0}},
                  "exit": {"gross_revenue": {"op": "<", "value": 1800.0}}}
    with engine.begin() as conn:
        spans = conn.execute(text("SELECT to_regclass('label_spans')")).scalar() is not None
        labels_tables = "label_spans, label_stage" if spans else "customer_labels"
        conn.execute(text(f"TRUNCATE {TABLES}, {labels_tables} RESTART IDENTITY CASCADE"))
        for version in (1, 2, 3):
            conn.execute(insert(ModelVersion).values(
                version=version, created_at=now, fitted_as_of=date(2010, 1, 31),
                data_fingerprint="b" * 64, code_version="bench", parameters={},
                thresholds=thresholds, clusters=[], metrics={}, artifact=b""))
        previous = None
        for run_id, as_of in enumerate(month_ends(runs), start=1):
            ids = all_ids[joined < run_id]
            labels = _labels(rng, run_id, ids, base[joined < run_id], drift=run_id / runs)
            _run_rows(conn, run_id, as_of, labels, thresholds, now)
            _write_labels(conn, run_id, labels, spans)
            if previous is not None:
                _copy(conn, "membership_events",
                      _events(run_id, previous, labels, legacy_reasons))
            previous = labels
        if forecasts:
            _forecasts(conn, runs, previous, np.random.default_rng(seed_value + 1))
        conn.execute(text("SELECT setval('runs_id_seq', (SELECT max(id) FROM runs))"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    _run_files(engine, runs, index)


def _run_files(engine, runs: int, index: bool = True) -> None:
    """Each run's files, as the worker writes them once it has published the run (none
    before issue 10's last change, whose code this benchmark also times; ``index``: also the
    customer index, map points and changes, which runs published before issue 11's have
    not)."""
    try:
        from store import insiders_file as writer
    except ImportError:  # older code: the CSV was written by store.run_files, or not at all
        try:
            from store import run_files as writer
        except ImportError:
            return
    for run_id in range(1, runs + 1):
        writer.write_insiders_csv(engine, run_id)
    if index:
        write_indexes(engine, runs)


def write_indexes(engine, runs: int) -> None:
    """Every run's customer index, map points and changes against the run before it, as the
    worker writes them; prints what the last run's cost."""
    from store import run_changes, run_index

    for run_id in range(1, runs + 1):
        start = time.perf_counter()
        stored = run_index.write(engine, run_id)
        middle = time.perf_counter()
        changes = run_changes.write(engine, run_id)
    end = time.perf_counter()
    print(f"the last run's customer index and map points: {middle - start:.1f} s, "
          f"{stored / 2**20:.1f} MiB stored; its changes: {end - middle:.1f} s, "
          f"{changes / 2**20:.1f} MiB stored")


def write_summaries(engine, runs: int) -> None:
    """Every run's summary, as the worker stores it when it publishes a run (since issue 11's
    labels as changes), from the published labels; prints what it took."""
    from store import run_index
    from store.schema import CustomerLabel

    start = time.perf_counter()
    for run_id in range(1, runs + 1):
        with engine.begin() as connection:
            run_index.write_summary(connection, run_id, CustomerLabel)
    print(f"every run's summary: {time.perf_counter() - start:.1f} s")


def _forecasts(conn, run_id: int, labels: pd.DataFrame, rng) -> None:
    """The latest run's forecasts as a run with looking ahead writes them: every customer's,
    1% of the Insiders at risk (a day and a reason); none before issue 10 (no table)."""
    if conn.execute(text("SELECT to_regclass('forecasts')")).scalar() is None:
        return
    n = len(labels)
    at_risk = labels["is_insiders"].to_numpy() & (rng.random(n) < 0.01)
    on = (pd.Timestamp(month_ends(run_id)[-1]) + pd.to_timedelta(rng.integers(1, 30, n), "D"))
    _copy(conn, "forecasts", pd.DataFrame({
        "run_id": run_id, "customer_id": labels["customer_id"].to_numpy(),
        "p_active": np.round(rng.random(n), 4),
        "expected_purchases": np.round(rng.gamma(1.5, 2.0, n), 4),
        "expected_spend": np.round(rng.gamma(1.2, 400.0, n), 2),
        "at_risk_on": np.where(at_risk, on.strftime("%Y-%m-%d"), None),
        "at_risk_reason": np.where(at_risk, "Leaves on that day unless they buy: more than 180 "
                                   "days since the last purchase.", None),
    }))
    conn.execute(text("UPDATE runs SET metrics = CAST(:m AS json) WHERE id = :id"),
                 {"m": json.dumps({"forecast": {"horizon_days": 90, "at_risk_days": 30}}),
                  "id": run_id})


def _run_rows(conn, run_id, as_of, labels, thresholds, now) -> None:
    revenue = labels["gross_revenue"].sum()
    insiders = labels[labels["is_insiders"]]
    conn.execute(insert(Run).values(
        id=run_id, status="succeeded", trigger="schedule", as_of=as_of, queued_at=now,
        started_at=now, finished_at=now + timedelta(seconds=80), progress_stage="done",
        progress_percent=100.0, parameters={}, model_version=1 + run_id // 10,
        n_customers=len(labels), n_insiders=len(insiders),
        insiders_share=len(insiders) / len(labels),
        revenue_share=float(insiders["gross_revenue"].sum() / revenue), silhouette=0.4,
        metrics={}, report={"thresholds": thresholds, "answers": [
            {"question": f"Question {i}", "answer": f"Answer {i}"} for i in range(1, 8)]},
    ))
    rows = []
    for cluster, group in labels.groupby("cluster"):
        rows.append({"run_id": run_id, "cluster": int(cluster), "name": NAMES[int(cluster)],
                     "color": COLORS[int(cluster)], "is_insiders": int(cluster) == 0,
                     "size": len(group), "share": len(group) / len(labels),
                     "revenue_share": float(group["gross_revenue"].sum() / revenue),
                     "profile": {f: float(group[f].mean()) for f in FEATURE_COLUMNS}})
    conn.execute(insert(Cluster), rows)


def timed(fn, repeat: int, cold: bool) -> list[float]:
    """Milliseconds per call; ``cold`` empties the per-run cache before each call."""
    from dashboard import cache

    fn()  # first call pays imports and plan caching
    times = []
    for _ in range(repeat):
        if cold:
            cache.clear()
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def line(name: str, cold: list[float], warm: list[float] | None = None,
         limit: float = 300) -> str:
    def part(times):
        return (f"p50 {statistics.median(times):7.1f}  p95 {np.percentile(times, 95):7.1f}  "
                f"max {max(times):7.1f}")

    text = f"  {name:<44} cold {part(cold)}"
    worst = np.percentile(cold, 95)
    if warm is not None:
        text += f"   | cached {part(warm)}"
        worst = np.percentile(warm, 95)
    return text + ("  ok" if worst < limit else "  SLOW")


def both(fn, repeat: int) -> tuple[list[float], list[float]]:
    return timed(fn, repeat, cold=True), timed(fn, repeat, cold=False)


def picked(calls: dict, only: str | None) -> dict:
    """The calls whose name holds ``only`` (all without it)."""
    return {name: fn for name, fn in calls.items() if not only or only in name}


def data_layer(engine, repeat: int, only: str | None = None) -> list[str]:
    from dashboard import data

    current = data.current_run(engine)
    cur, prev = current["id"], data.previous_run(current["id"], engine)["id"]
    first = data.succeeded_runs(engine)[0]["id"]
    customer = int(data.insiders_list(cur, engine)["customer_id"].iloc[0])
    one = _customer_reads()
    calls = {
        "current_run": lambda: data.current_run(engine),
        "succeeded_runs (24)": lambda: data.succeeded_runs(engine),
        "clusters": lambda: data.clusters(cur, engine),
        "insiders_summary": lambda: data.insiders_summary(cur, engine),
        "embedding_sample (sampled, of 100k)": lambda: data.embedding_sample(
            cur, current["n_customers"], engine=engine),
        "changes (previous -> current)": lambda: data.changes(prev, cur, engine),
        "changes (first -> current, 23 runs)": lambda: data.changes(first, cur, engine),
        **_period_calls(prev, first, cur, engine),
        "transitions (previous -> current)": lambda: data.transitions(prev, cur, engine),
        "customer_history": lambda: one.customer_history(customer, engine),
        "customer_events": lambda: one.customer_events(customer, engine),
        "run_thresholds": lambda: one.run_thresholds(current, engine),
        "insiders_list": lambda: data.insiders_list(cur, engine),
        "run_history": lambda: data.run_history(engine=engine),
    }
    return [line(name, *both(fn, repeat)) for name, fn in picked(calls, only).items()]


def _customer_reads():
    """The module of one customer's reads: ``dashboard.data_customer``, or ``dashboard.data``
    in versions before it, which this benchmark also times."""
    try:
        from dashboard import data_customer
    except ImportError:
        from dashboard import data as data_customer
    return data_customer


def _period_calls(prev: int, first: int, cur: int, engine) -> dict:
    """Every entry and exit between two runs (the Changes page's rows since issue 10); absent
    from older versions, which this benchmark also times."""
    try:
        from dashboard import data_period
    except ImportError:
        return {}
    return {"period_changes (previous -> current)":
            lambda: data_period.period_changes(prev, cur, engine=engine),
            "period_changes (first -> current, 23 runs)":
            lambda: data_period.period_changes(first, cur, engine=engine)}


def http_callbacks(engine, repeat: int, only: str | None = None
                   ) -> tuple[list[str], list[str]]:
    from dashboard import data
    from dashboard.app import create_app
    from dashboard.downloads import changes_href
    from settings import load_settings
    from tests.dashboard_seed import ORIGIN, call, login, page

    settings = load_settings({"INSIDERS_DATABASE_URL": BENCH_URL, "INSIDERS_ADMIN_USER": "bench",
                              "INSIDERS_ADMIN_PASSWORD": "bench-password"})
    app = create_app(settings, engine)
    client = app.server.test_client()
    login(client, "bench", "bench-password")
    current = data.current_run(engine)
    cur, prev = current["id"], data.previous_run(current["id"], engine)["id"]
    first = data.succeeded_runs(engine)[0]["id"]
    customer = int(data.insiders_list(cur, engine)["customer_id"].iloc[0])
    ch_out = [("ch-entered", "children"), ("ch-exited", "children"), ("ch-counts", "children"),
              ("ch-grid", "rowData"), ("ch-sankey", "figure")]
    ad_out = [("ad-progress", "children"), ("ad-history", "rowData"), ("ad-failed", "children"),
              ("ad-audit", "rowData")]

    def ok(response):
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        return response

    def first_part(run_from: int, run_to: int):
        """The export's first part received (what the browser's download starts with)."""
        response = ok(client.get(changes_href(run_from, run_to), buffered=False))
        assert next(iter(response.response))
        response.close()

    calls = {
        "page / (overview layout)": lambda: ok(page(client, "/")),
        "page /changes": lambda: ok(page(client, "/changes")),
        "page /customer?id=": lambda: ok(page(client, "/customer", f"?id={customer}")),
        "page /report": lambda: ok(page(client, "/report")),
        "page /admin": lambda: ok(page(client, "/admin")),
        "overview scatter (sampled points)": lambda: ok(call(
            client, [("ov-scatter", "figure")],
            [("ov-run", "data", cur)])),
        "changes compare (counts, grid, sankey)": lambda: ok(call(
            client, ch_out, [("ch-from", "value", prev), ("ch-to", "value", cur),
                             ("ch-kind", "value", "all")])),
        "changes compare first -> current (23 runs)": lambda: ok(call(
            client, ch_out, [("ch-from", "value", first), ("ch-to", "value", cur),
                             ("ch-kind", "value", "all")])),
        "changes export link (callback)": lambda: ok(call(
            client, [("ch-export", "href")], [("ch-from", "value", prev)],
            [("ch-to", "value", cur)])),
        "changes CSV previous -> current: first part": lambda: first_part(prev, cur),
        "changes CSV previous -> current: whole file": lambda: ok(
            client.get(changes_href(prev, cur))).get_data(),
        "changes CSV first -> current: first part": lambda: first_part(first, cur),
        "changes CSV first -> current: whole file": lambda: ok(
            client.get(changes_href(first, cur))).get_data(),
        "customer find": lambda: ok(call(
            client, [("cu-result", "children")],
            [("cu-find", "n_clicks", 1), ("cu-input", "value", customer)],
            [("cu-input", "value", customer)])),
        "admin poll (progress, history, audit)": lambda: ok(call(
            client, ad_out, [("ad-poll", "n_intervals", 1), ("ad-message", "children", None)])),
        "report markdown download": lambda: ok(call(
            client, [("re-markdown", "data")], [("re-markdown-button", "n_clicks", 1)],
            [("re-run", "data", cur)])),
        "report insiders CSV download": lambda: ok(call(
            client, [("re-csv", "data")], [("re-csv-button", "n_clicks", 1)],
            [("re-run", "data", cur)])),
    }
    lines = [line(name, *both(fn, repeat)) for name, fn in picked(calls, only).items()]

    def first_load():
        for path in ("/", "/_dash-layout", "/_dash-dependencies"):
            ok(client.get(path, headers=ORIGIN))
        ok(page(client, "/"))
        calls["overview scatter (sampled points)"]()

    load = [line("first load: index, layout, deps, page, scatter", *both(first_load, 5),
                 limit=1500)]
    return lines, load


def browser_first_load(engine) -> list[str]:
    """Wall time in Chromium from navigation to the scatter drawn (live waitress server)."""
    import socket
    import subprocess
    import tempfile

    import requests
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSIDERS_")}
    env.update(INSIDERS_DATABASE_URL=BENCH_URL, INSIDERS_ADMIN_USER="bench",
               INSIDERS_ADMIN_PASSWORD="bench-password",
               PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    server = subprocess.Popen([sys.executable, "-c",
                               f"from dashboard.app import serve; serve('127.0.0.1', {port})"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(url + "/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        profile = tempfile.mkdtemp()
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--no-first-run",
                     "--window-size=1440,900", f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            driver.get(url + "/login")
            driver.find_element(By.NAME, "username").send_keys("bench")
            driver.find_element(By.NAME, "password").send_keys("bench-password")
            driver.find_element(By.ID, "login-submit").click()
            times = []
            for _ in range(5):
                start = time.perf_counter()
                driver.get(url + "/")
                WebDriverWait(driver, 30).until(ec.presence_of_element_located(
                    (By.CSS_SELECTOR, "#ov-scatter .scatterlayer, #ov-scatter .gl-container")))
                WebDriverWait(driver, 30).until(ec.presence_of_element_located(
                    (By.CSS_SELECTOR, "#ov-profiles .ag-row")))
                times.append((time.perf_counter() - start) * 1000)
        finally:
            driver.quit()
    finally:
        server.terminate()
        server.wait(timeout=10)
    return [line("browser: navigate / until scatter and grid drawn", times, limit=1500)]


def machine(engine) -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text()
                .splitlines() if ln.startswith("model name")), platform.processor())
    with engine.connect() as conn:
        pg = conn.execute(text("SHOW server_version")).scalar()
        labels = conn.execute(text("SELECT count(*) FROM customer_labels")).scalar()
        events = conn.execute(text("SELECT count(*) FROM membership_events")).scalar()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"machine: {cpu}, {os.cpu_count()} cores, {mem:.0f} GiB; Python "
            f"{platform.python_version()}; PostgreSQL {pg}\n"
            f"data: {labels:,} label rows, {events:,} membership events")


def size_arguments(description: str) -> argparse.ArgumentParser:
    """The options every benchmark on the seeded database takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--no-seed", action="store_true", help="reuse the seeded database")
    parser.add_argument("--legacy-reasons", action="store_true",
                        help="seed reasons as runs before the sentences stored them")
    parser.add_argument("--no-forecasts", action="store_true",
                        help="seed no forecasts (as runs without looking ahead)")
    parser.add_argument("--without-index", action="store_true",
                        help="seed runs without customer index, map points and changes (as "
                             "published before they were stored)")
    parser.add_argument("--write-summary", action="store_true",
                        help="with --no-seed: store every run's summary as publication now does")
    parser.add_argument("--write-index", action="store_true",
                        help="with --no-seed: store every run's customer index, map points and "
                             "changes first")
    return parser


def seeded_engine(args: argparse.Namespace):
    """The benchmark database, seeded with ``args.customers`` x ``args.runs`` unless --no-seed."""
    engine = create_engine(BENCH_URL, pool_size=5)
    if not args.no_seed:
        start = time.perf_counter()
        seed(engine, args.customers, args.runs, legacy_reasons=args.legacy_reasons,
             forecasts=not args.no_forecasts, index=not args.without_index)
        print(f"seeded {args.customers:,} customers x {args.runs} runs with COPY in "
              f"{time.perf_counter() - start:.1f} s")
    elif args.write_index:
        write_indexes(engine, args.runs)
    if args.write_summary:
        write_summaries(engine, args.runs)
    return engine


def main() -> None:
    parser = size_arguments(__doc__.splitlines()[0])
    parser.add_argument("--browser", action="store_true", help="also time Chromium")
    parser.add_argument("--only", default=None,
                        help="time only the calls whose name holds this text")
    args = parser.parse_args()
    engine = seeded_engine(args)
    print(machine(engine))
    print(f"\ndata layer in ms ({args.repeat} calls each after one warm-up; cold = per-run "
          "cache emptied before every call, cached = the same call again):")
    print("\n".join(data_layer(engine, args.repeat, args.only)))
    callbacks, load = http_callbacks(engine, args.repeat, args.only)
    print(f"\nDash callbacks over HTTP in ms ({args.repeat} calls each, Flask test client, "
          "session + guard + callback + JSON):")
    print("\n".join(callbacks))
    print("\nfirst page load (sequential requests; target < 1500 ms):")
    print("\n".join(load))
    if args.browser:
        print("\n".join(browser_first_load(engine)))


if __name__ == "__main__":
    main()
