"""Files stored with a run and read whole afterwards: the Insiders CSV
(:mod:`store.insiders_file`), the customer index and map points the dashboard compares runs
with (:mod:`store.run_index`), the changes (:mod:`store.run_changes`) and the forecasts of every
customer (:mod:`store.forecasts`).
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pyarrow as pa
from sqlalchemy import Connection, Engine, delete, insert, select

from store.schema import RunFile

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
    with engine.begin() as connection:
        return store_bytes(connection, run_id, name, payload, size, compress=compress)


def store_bytes(connection: Connection, run_id: int, name: str, payload: bytes,
                size: int | None = None, *, compress: bool = True) -> int:
    """:func:`write_bytes` in the caller's transaction."""
    content = ZSTD.compress(payload, asbytes=True) if compress else payload
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
