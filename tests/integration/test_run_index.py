"""The dashboard's comparisons and map read through the files stored with each run
(``store.run_index``, ``store.run_changes``) give what reading the runs' labels and events
gives, on PostgreSQL and SQLite, with customers new in a run and an Insider gone from the next
one."""

from __future__ import annotations

import gzip
import io

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import delete, select, update

import migrations
from dashboard import cache, data, data_index, data_period
from store import run_changes, run_files, run_index
from store.db import make_engine
from store.schema import CustomerLabel, Run, RunFile
from tests.dashboard_seed import N_CUSTOMERS, drop_from_run, seed

RUNS = (1, 2, 3)
MAP_QUERY = run_index.map_query
PAIRS = ((1, 2), (2, 3), (1, 3), (3, 1))


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'insiders.db'}"
        migrations.upgrade(url)
        engine = make_engine(url)
    else:
        engine = request.getfixturevalue("clean_db")
    seed(engine)
    with engine.begin() as connection:
        label = CustomerLabel
        # five customers new in run 2, and run 2's first Insider gone from run 3
        drop_from_run(connection, 1, range(12000, 12005))
        gone = connection.execute(select(label.customer_id).where(
            label.run_id == 2, label.is_insiders).order_by(label.customer_id)).scalars().first()
        drop_from_run(connection, 3, [gone])
    cache.clear()
    yield engine
    cache.clear()
    if request.param == "sqlite":
        engine.dispose()


def _reads(engine) -> dict[str, pd.DataFrame]:
    cache.clear()
    reads = {}
    for older, newer in PAIRS:
        reads[f"changes {older}-{newer}"] = _sorted(data.changes(older, newer, engine),
                                                    ["kind", "customer_id"])
        reads[f"transitions {older}-{newer}"] = _sorted(
            data.transitions(older, newer, engine), ["cluster_before", "cluster_after"])
    reads["period 1-3"] = data_period.period_changes(1, 3, engine=engine)
    reads["period 2-3"] = _sorted(data_period.period_changes(2, 3, engine=engine),
                                  ["kind", "customer_id"])
    for run in RUNS:
        for size in (N_CUSTOMERS, 20):
            reads[f"map {run} {size}"] = _sorted(
                data.embedding_sample(run, N_CUSTOMERS, max_points=size, engine=engine),
                ["customer_id"])
    return reads


def _sorted(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    return frame.sort_values(by, kind="stable").reset_index(drop=True)


@pytest.mark.parametrize("worded_in", ["£", "€"])
def test_reads_through_the_stored_files_equal_reads_of_the_labels(engine, worded_in):
    """Reasons stored worded in the dashboard's currency (the pound outside an app) are shown
    as stored, others are worded again."""
    from_labels = _reads(engine)
    for run in RUNS:
        assert run_index.write(engine, run) > 0
        assert (run_changes.write(engine, run, worded_in) > 0) == (run != 1)  # first: none
    assert data_index.stored_changes(2, 3, "£", engine)[1] == (worded_in == "£")
    from_files = _reads(engine)
    assert from_files.keys() == from_labels.keys()
    for name, expected in from_labels.items():
        assert len(expected), name
        pd.testing.assert_frame_equal(from_files[name], expected, check_dtype=False,
                                      obj=name)
    entered_exited = from_files["changes 2-3"].groupby("kind").size()
    assert entered_exited.get("exited", 0) >= 1 and entered_exited.get("entered", 0) >= 1


def test_the_stored_files_are_what_the_dashboard_reads(engine, monkeypatch):
    run_index.write(engine, 3)
    index = run_index.read_index(engine, 3)
    with engine.connect() as connection:
        rows = connection.execute(select(CustomerLabel.customer_id, CustomerLabel.cluster,
                                         CustomerLabel.is_insiders)
                                  .where(CustomerLabel.run_id == 3)
                                  .order_by(CustomerLabel.customer_id)).all()
    assert index.customer_id.tolist() == [r.customer_id for r in rows]
    assert index.cluster.tolist() == [r.cluster for r in rows]
    assert index.is_insiders.tolist() == [bool(r.is_insiders) for r in rows]
    # the map points stored with the publication: every customer here, thinned for a smaller
    # map as it would have been drawn (every third id, and Insiders up to half of 20)
    calls = []
    monkeypatch.setattr(run_index, "map_query",
                        lambda *a, **k: calls.append(a) or MAP_QUERY(*a, **k))
    every = run_index.read_points(engine, 3, N_CUSTOMERS, 30_000)
    assert len(every) == N_CUSTOMERS and every["customer_id"].is_monotonic_increasing
    thinned = run_index.read_points(engine, 3, N_CUSTOMERS, 20)
    insiders_step = -(-int(every["is_insiders"].sum()) // 10)
    expected = every[(every["customer_id"] % 3 == 0)
                     | (every["is_insiders"] & (every["customer_id"] % insiders_step == 0))]
    pd.testing.assert_frame_equal(thinned, expected.reset_index(drop=True))
    assert 20 <= len(thinned) < len(every)
    cache.clear()
    data.embedding_sample(3, N_CUSTOMERS, engine=engine)
    assert not calls, "the stored points were read"
    # the spans keep no map coordinates: a published run without its file has no map
    with engine.begin() as connection:
        connection.execute(delete(RunFile).where(RunFile.run_id == 3))
    cache.clear()
    assert data.embedding_sample(3, N_CUSTOMERS, engine=engine).empty and calls



def test_files_stored_gzipped_by_an_earlier_version_are_still_read(engine):
    """A run's files are stored compressed with zstd, its changes as Parquet compressed by
    itself; runs published before stored them inside gzip (the changes as plain Parquet),
    and they are read the same."""
    run_index.write(engine, 3)
    run_changes.write(engine, 3, "£")
    now = _stored_reads(engine)
    stored = _contents(engine)
    assert stored[run_index.INDEX_FILE][:4] == run_files.ZSTD_MAGIC
    assert stored[run_index.MAP_FILE][:4] == run_files.ZSTD_MAGIC
    assert stored[run_changes.CHANGES_FILE][:4] == b"PAR1"
    plain = io.BytesIO()
    pq.write_table(pq.read_table(io.BytesIO(stored[run_changes.CHANGES_FILE])), plain,
                   compression="none")
    earlier = {**{name: run_files.read_bytes(engine, 3, name) for name in stored},
               run_changes.CHANGES_FILE: plain.getvalue()}
    with engine.begin() as connection:
        for name, payload in earlier.items():
            connection.execute(update(RunFile).where(RunFile.run_id == 3, RunFile.name == name)
                               .values(content=gzip.compress(payload)))
    assert all(content[:2] == run_files.GZIP_MAGIC for content in _contents(engine).values())
    before = _stored_reads(engine)
    pd.testing.assert_frame_equal(before["index"], now["index"])
    pd.testing.assert_frame_equal(before["points"], now["points"])
    pd.testing.assert_frame_equal(before["changes"][0], now["changes"][0])
    assert before["changes"][1:] == now["changes"][1:] == (2, "£")


def _contents(engine) -> dict[str, bytes]:
    with engine.connect() as connection:
        return {row.name: bytes(row.content) for row in connection.execute(
            select(RunFile.name, RunFile.content).where(RunFile.run_id == 3))}


def _stored_reads(engine) -> dict:
    index = run_index.read_index(engine, 3)
    return {"index": pd.DataFrame({"customer_id": index.customer_id, "cluster": index.cluster,
                                   "is_insiders": index.is_insiders}),
            "points": run_index.read_points(engine, 3, N_CUSTOMERS, 20),
            "changes": run_changes.read(engine, 3)}


def test_a_file_that_fails_to_be_written_leaves_the_others_and_the_run(engine, monkeypatch):
    from worker import runner

    def broken(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(runner.insiders_file, "write_insiders_csv", broken)
    runner.write_run_files(engine, 3, "£")  # logged, not raised: the run is published already
    assert run_index.read_index(engine, 3) is not None
    monkeypatch.setattr(runner.run_index, "write", broken)
    runner.write_run_files(engine, 2, "£")
    assert run_index.read_index(engine, 2) is None
    cache.clear()
    assert data.transitions(2, 3, engine)["customers"].sum() == len(run_index.read_index(engine, 3))


def test_changes_stored_against_another_run_are_not_used(engine):
    """Run 2 taken out of the history after run 3 was published: run 3's stored changes are
    against run 2, so those from run 1 to run 3 are read from the labels and events."""
    with engine.begin() as connection:
        connection.execute(update(Run).where(Run.id == 2).values(status="failed"))
    cache.clear()
    from_labels = _sorted(data.changes(1, 3, engine), ["kind", "customer_id"])
    for run in RUNS:
        run_index.write(engine, run)
    assert run_changes.write(engine, 3) > 0 and run_changes.read(engine, 3)[1] == 1
    with engine.begin() as connection:  # run 2 back: run 3's stored changes are against it
        connection.execute(update(Run).where(Run.id == 2).values(status="succeeded"))
    assert run_changes.write(engine, 3) > 0 and run_changes.read(engine, 3)[1] == 2
    with engine.begin() as connection:
        connection.execute(update(Run).where(Run.id == 2).values(status="failed"))
    cache.clear()
    assert data_index.stored_changes(1, 3, "£", engine) is None
    pd.testing.assert_frame_equal(_sorted(data.changes(1, 3, engine), ["kind", "customer_id"]),
                                  from_labels, check_dtype=False)


def test_the_summary_stored_at_publication_is_that_of_the_labels(engine, monkeypatch):
    """Run 2 keeps the summary its publication stored; runs 1 and 3 lost customers since
    (the fixture), so their summaries are read from their labels."""
    with engine.connect() as connection:
        from_labels = {run: connection.execute(run_index.summary_query(CustomerLabel, run))
                       .mappings().one() for run in RUNS}
    stored = run_index.read_summary(engine, 2)
    assert stored["customers"] == from_labels[2]["customers"] == N_CUSTOMERS
    assert isinstance(stored["insiders"], int) and stored["insiders"] > 0
    assert stored == pytest.approx({key: float(value) for key, value in from_labels[2].items()})
    calls = []
    summary_query = run_index.summary_query
    monkeypatch.setattr(run_index, "summary_query",
                        lambda *a: calls.append(a) or summary_query(*a))
    cache.clear()
    assert data.insiders_summary(2, engine)["customers"] == N_CUSTOMERS and not calls
    for run in (1, 3):
        assert run_index.read_summary(engine, run) is None
        summary = data.insiders_summary(run, engine)
        assert summary["customers"] == from_labels[run]["customers"] < N_CUSTOMERS
        assert summary["insiders"] == from_labels[run]["insiders"]
    assert len(calls) == 2
