"""The daily steps of ``benchmarks/scale.py``: one more day of transactions, as a deployment
gets it every day (see ``benchmarks/scale_runs.py`` for the workers and the runs).

* ``daily``: one more day (the last day's rows, moved to the next day, with new invoice
  numbers), ingested, then a scoring run with two worker processes: what the database grew by,
  table by table, with the ingest and with the run; ``--daily-days N`` days one after the
  other, the database vacuumed before each as autovacuum would have done overnight;
  ``--day-rows N``: only the day's first invoices up to N rows (the generator's last day at 1M
  customers has 720k, the issue's day about 150k), here and in ``inbox``;
* ``inbox``: another day dropped into ``INSIDERS_INBOX_DIR``, the beat's scheduled-run task sent
  to two running workers: time until that run is succeeded and current.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

from benchmarks.scale_runs import (
    connect,
    load_average,
    prepare,
    run_facts,
    scalar,
    timed_run,
    wait_run,
    workers,
)


def _day_file(code: str, source: str, target: str, days_after: int,
              day_rows: int | None = None) -> tuple[int, str]:
    """The source file's last day, moved ``days_after`` days on, invoice numbers moved past
    every number the file holds (the generator numbers invoices from 536365 upward, at most
    one per row); only its first invoices up to ``day_rows`` rows when given; written to
    ``target``: (rows, day)."""
    _use(code)
    import pyarrow as pa  # deferred: the child process reads the file
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from pipeline.synthetic import ARROW_SCHEMA

    file = pq.ParquetFile(source)
    rows = file.metadata.num_rows
    date_column = file.schema_arrow.get_field_index("InvoiceDate")
    last = max(file.metadata.row_group(i).column(date_column).statistics.max
               for i in range(file.metadata.num_row_groups))
    last_day = pa.scalar(last, pa.timestamp("ns")).as_py().date()
    start = pa.scalar(dt.datetime.combine(last_day, dt.time()), pa.timestamp("ns"))
    pieces = [batch.filter(pc.greater_equal(batch.column("InvoiceDate"), start))
              for batch in file.iter_batches(batch_size=1_000_000)]
    table = pa.Table.from_batches([p for p in pieces if p.num_rows], ARROW_SCHEMA)
    frame = table.to_pandas()
    if day_rows is not None:  # whole invoices
        lines = frame.groupby("InvoiceNo", sort=False).size()
        frame = frame[frame["InvoiceNo"].isin(lines.index[lines.cumsum() <= day_rows])]
    frame["InvoiceDate"] += dt.timedelta(days=days_after)
    returned = frame["InvoiceNo"].str.startswith("C")
    number = frame["InvoiceNo"].str.removeprefix("C").astype("int64") + days_after * rows
    frame["InvoiceNo"] = returned.map({True: "C", False: ""}) + number.astype(str)
    pq.write_table(pa.Table.from_pandas(frame, ARROW_SCHEMA, preserve_index=False), target)
    return len(frame), str(last_day + dt.timedelta(days=days_after))


def _use(code: str) -> None:
    if code not in sys.path:
        sys.path.insert(0, code)


def _ingest_day(code: str, url: str, path: str) -> tuple[int, float]:
    _use(code)
    from store.db import make_engine  # deferred: the child chooses the checkout
    from store.transactions import ingest_file

    engine = make_engine(url)
    started = time.perf_counter()
    outcome = ingest_file(engine, path, profile="online-retail")
    seconds = time.perf_counter() - started
    engine.dispose()
    return outcome.n_accepted, seconds


def _table_sizes(engine) -> dict[str, int]:
    from sqlalchemy import text  # deferred: the benchmark chooses the checkout

    with engine.connect() as connection:
        sizes = dict(connection.execute(text(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r'")).all())
        parts = connection.execute(text(  # each table's own pages and each index's apart
            "SELECT CASE c.relkind WHEN 'i' THEN 'index ' ELSE 'heap ' END || c.relname, "
            "pg_relation_size(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')")).all()
        sizes.update({f"({name})": size for name, size in parts})
        sizes["(database)"] = connection.execute(
            text("SELECT pg_database_size(current_database())")).scalar_one()
    return sizes


def _growth(before: dict[str, int], after: dict[str, int]) -> str:
    grown = {name: after[name] - before.get(name, 0) for name in after
             if not name.startswith("(")}
    parts = [f"{name} {size / 2**20:+,.1f}" for name, size in
             sorted(grown.items(), key=lambda item: -item[1]) if abs(size) >= 2**20 / 10]
    total = sum(grown.values())
    database = after["(database)"] - before["(database)"]
    return (f"**{total / 2**20:+,.1f} MiB** in the tables (database {database / 2**20:+,.1f} MiB):"
            f" {', '.join(parts) or 'none above 0.1 MiB'}")


def _parts_growth(before: dict[str, int], after: dict[str, int]) -> str:
    """What grew, heap and index apart (0.05 MiB and more)."""
    grown = {name[1:-1]: after[name] - before.get(name, 0) for name in after
             if name.startswith(("(heap ", "(index "))}
    return ", ".join(f"{name} {size / 2**20:+,.2f}" for name, size in
                     sorted(grown.items(), key=lambda item: -item[1]) if size >= 2**20 / 20)


def _run_files(engine, run_id: int) -> str:
    """The run's stored files by kind (a folder's files together), largest first."""
    from sqlalchemy import text  # deferred: the benchmark chooses the checkout

    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT split_part(name, '/', 1), count(*), sum(octet_length(content)) "
            "FROM run_files WHERE run_id = :id GROUP BY 1 ORDER BY 3 DESC"), {"id": run_id}).all()
    return ", ".join(f"{name} {size / 2**20:,.2f} MiB" + (f" ({n} files)" if n > 1 else "")
                     for name, n, size in rows)


def _vacuum(engine) -> None:
    """What autovacuum (on by default) does between two days: the dead versions of the spans
    closed the day before become space the next day reuses."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM (ANALYZE)")


def daily(scale) -> list[tuple[str, str]]:
    figures = []
    for day in range(1, scale.daily_days + 1):
        figures += _one_day(scale, day)
    return figures


def _one_day(scale, days_after: int) -> list[tuple[str, str]]:
    from benchmarks.scale import in_child  # deferred: scale imports this module

    prepare(scale)
    engine = connect(scale)
    _vacuum(engine)
    path = scale.path.parent / f"day-{days_after}.parquet"
    (rows, day), _ = in_child(_day_file, scale.code, str(scale.path), str(path), days_after,
                              scale.day_rows)
    before = _table_sizes(engine)
    (accepted, ingest_seconds), rss = in_child(_ingest_day, scale.code, scale.database_url,
                                               str(path))
    after_ingest = _table_sizes(engine)
    with workers(scale, 2, "daily") as memory:
        load = load_average()
        run_id, seconds = timed_run(scale, engine, as_of=None)
    _, one = memory.stop()
    after_run = _table_sizes(engine)
    path.unlink()
    facts = run_facts(engine, run_id)
    files = _run_files(engine, run_id)
    engine.dispose()
    return [(f"day {days_after}", f"{rows:,} rows on {day}, {accepted:,} stored, ingested in "
                                  f"{ingest_seconds:.1f} s ({rss:,.0f} MiB peak)"),
            ("storage added by the day's ingest", _growth(before, after_ingest)),
            ("daily scoring run, 2 worker processes", f"{seconds:.1f} s "
                                                      f"({facts}); {load}; "
                                                      f"largest process {one:,.0f} MiB"),
            ("storage added by the daily scoring run", _growth(after_ingest, after_run)),
            ("of which, heap and index apart", _parts_growth(after_ingest, after_run)),
            ("the daily run's files", files)]


def inbox(scale) -> list[tuple[str, str]]:
    from benchmarks.scale import in_child  # deferred: scale imports this module
    from worker.celery_app import create_app  # deferred: the benchmark chooses the checkout

    prepare(scale)
    from settings import load_settings  # deferred: after the environment is set
    from store.queue import SCHEDULED_RUN_TASK

    engine = connect(scale)
    folder = Path(os.environ["INSIDERS_INBOX_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    days_after = scale.daily_days + 1  # the day after the daily step's
    staged = folder / f"day-{days_after}.parquet.part"  # the inbox leaves unfinished files alone
    (rows, day), _ = in_child(_day_file, scale.code, str(scale.path), str(staged), days_after,
                              scale.day_rows)
    app = create_app(load_settings())
    latest = scalar(engine, "SELECT COALESCE(MAX(id), 0) FROM runs")
    with workers(scale, 2, "inbox") as memory:
        load = load_average()
        started = time.perf_counter()
        staged.rename(staged.with_suffix(""))
        app.send_task(SCHEDULED_RUN_TASK)
        run_id = None
        while run_id is None:
            run_id = scalar(engine, "SELECT MIN(id) FROM runs WHERE id > :id", id=latest)
            time.sleep(0.2)
        queued = time.perf_counter() - started
        status = wait_run(engine, run_id)
        current = scalar(engine, "SELECT id FROM runs WHERE status = 'succeeded' "
                                  "ORDER BY as_of DESC, id DESC LIMIT 1")
        seconds = time.perf_counter() - started
    _, one = memory.stop()
    as_of = scalar(engine, "SELECT as_of FROM runs WHERE id = :id", id=run_id)
    engine.dispose()
    assert status == "succeeded" and current == run_id, (status, current, run_id)
    return [("inbox: one day dropped -> ingested -> scored -> current",
             f"**{seconds:.1f} s** ({rows:,} rows on {day}; run queued after {queued:.1f} s, "
             f"as of {as_of}; 2 worker processes, largest {one:,.0f} MiB); {load}, "
             f"after {load_average()}")]

