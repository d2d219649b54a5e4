"""Files made once when a run is published and read whole afterwards: the Insiders CSV, and
the customer index and map points the dashboard compares runs with (:mod:`store.run_index`).

The worker writes a run's Insiders CSV right after publishing it (:func:`write_insiders_csv`);
the Report page's download reads it (:func:`read_file`) and builds it only for a run that has
none (runs published before this, or a worker stopped between the two transactions).
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pyarrow as pa
from sqlalchemy import Engine, delete, insert, select

from pipeline.columns import FEATURE_COLUMNS
from pipeline.exports import insiders_table, to_csv
from pipeline.identity import display_name
from store import forecasts
from store.schema import Cluster, Run, RunFile

INSIDERS_CSV = "insiders.csv"
GZIP_MAGIC, ZSTD_MAGIC = b"\x1f\x8b", b"\x28\xb5\x2f\xfd"
# as small as gzip at level 6 on these files, written ten times and read twice as fast
ZSTD = pa.Codec("zstd", compression_level=3)


def write_file(engine: Engine, run_id: int, name: str, text: str) -> int:
    """Store ``text`` as run ``run_id``'s file ``name`` (replacing one of that name); returns
    the bytes stored."""
    return write_bytes(engine, run_id, name, text.encode("utf-8"), size=len(text))


def write_bytes(engine: Engine, run_id: int, name: str, payload: bytes,
                size: int | None = None, *, compress: bool = True) -> int:
    """Store ``payload`` as run ``run_id``'s file ``name``, compressed with zstd unless
    ``compress`` is False (a format that compresses itself, such as Parquet; it must not begin
    as gzip or zstd do) (replacing one of that name; ``size``: what the file is long before
    compression, bytes by default); returns the bytes stored."""
    content = ZSTD.compress(payload, asbytes=True) if compress else payload
    with engine.begin() as connection:
        connection.execute(delete(RunFile).where(RunFile.run_id == int(run_id),
                                                 RunFile.name == name))
        connection.execute(insert(RunFile).values(
            run_id=int(run_id), name=name, content=content,
            size=len(payload) if size is None else size, created_at=datetime.now(UTC)))
    return len(content)


def read_file(engine: Engine, run_id: int, name: str) -> str | None:
    """Run ``run_id``'s file ``name`` as text, or None when it has none."""
    payload = read_bytes(engine, run_id, name)
    return None if payload is None else payload.decode("utf-8")


def read_bytes(engine: Engine, run_id: int, name: str) -> bytes | None:
    """Run ``run_id``'s file ``name`` as bytes, or None when it has none."""
    with engine.connect() as connection:
        content = connection.execute(
            select(RunFile.content).where(RunFile.run_id == int(run_id), RunFile.name == name)
        ).scalar_one_or_none()
    return None if content is None else _decompressed(bytes(content))


def _decompressed(content: bytes) -> bytes:
    """A stored file's bytes: zstd (written now), gzip (written before) or as they are."""
    if content[:4] == ZSTD_MAGIC:
        return pa.CompressedInputStream(pa.BufferReader(content), "zstd").read()
    return gzip.decompress(content) if content[:2] == GZIP_MAGIC else content


def insiders_csv(engine: Engine, run_id: int) -> str:
    """The Insiders CSV of run ``run_id``, built from the store: the run's Insiders, their
    cluster names and features, and their forecasts when the run has forecasts."""
    frame = forecasts.insiders_forecasts(engine, int(run_id), ["cluster", *FEATURE_COLUMNS])
    ahead = frame.loc[:, list(forecasts.FORECAST_COLUMNS)]
    found = ahead[list(forecasts.NUMBER_COLUMNS)].notna().to_numpy().any()
    labels = frame.drop(columns=list(forecasts.FORECAST_COLUMNS[1:]))
    if not found:
        info, _count = forecasts.forecast_metrics(engine, int(run_id))
        found = isinstance(info, dict) and bool(info) and "error" not in info
    as_of, names = _run_facts(engine, int(run_id))
    return to_csv(insiders_table(labels, as_of=as_of, run_id=int(run_id), cluster_names=names,
                                 forecasts=ahead if found else None))


def write_insiders_csv(engine: Engine, run_id: int) -> int:
    """Build and store run ``run_id``'s Insiders CSV; returns the bytes stored."""
    return write_file(engine, run_id, INSIDERS_CSV, insiders_csv(engine, run_id))


def _run_facts(engine: Engine, run_id: int) -> tuple[str | None, dict[int, str]]:
    with engine.connect() as connection:
        as_of = connection.execute(select(Run.as_of).where(Run.id == run_id)).scalar()
        rows = connection.execute(
            select(Cluster.cluster, Cluster.name).where(Cluster.run_id == run_id)).all()
    names = {int(c): display_name(n) for c, n in rows if display_name(n)}
    return (None if as_of is None else as_of.isoformat()), names
