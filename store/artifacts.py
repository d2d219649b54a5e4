"""A model version's artifact read and written in bounded memory.

An artifact is hundreds of megabytes at a million customers (about 220 MB). Read whole from
PostgreSQL, a ``bytea`` comes hex-encoded (twice its size) and the driver's input buffer grows to
hold the whole message and keeps that size for the connection's life: a 220 MB artifact took a
process from 240 MiB to 1,564 MiB while it was read, and left it 660 MiB larger. Read in pieces
of :data:`PIECE_BYTES`, it is never in the driver whole: a reader keeps what it loads
(:meth:`pipeline.model_state.ModelState.from_pieces`; a scoring worker, not the exact
transform's parts).
Written in one statement, the driver's output buffer held the whole artifact beside it (a refit
at a million customers went 420 MB higher, and stayed there): it is pickled straight into pieces
that a temporary table collects, and the database joins them.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Connection, func, select, update

from pipeline.model_state import ModelState
from store.schema import ModelVersion

PIECE_BYTES = 32 * 2**20


def artifact_pieces(connection: Connection, version: int, *, piece_bytes: int = PIECE_BYTES
                    ) -> Iterator[bytes] | None:
    """Model version ``version``'s artifact as pieces of ``piece_bytes`` read one after the
    other (PostgreSQL; SQLite hands the whole over as one), or None when there is no such
    version: :meth:`ModelState.from_pieces` keeps of them only what it loads."""
    where = ModelVersion.version == int(version)
    if connection.dialect.name != "postgresql":
        whole = connection.execute(select(ModelVersion.artifact).where(where)).scalar()
        return None if whole is None else iter([whole])
    size = _size(connection, where)
    return None if size is None else _pieces(connection, where, size, piece_bytes)


def _size(connection: Connection, where) -> int | None:
    return connection.execute(select(func.octet_length(ModelVersion.artifact))
                              .where(where)).scalar()


def _pieces(connection: Connection, where, size: int, piece_bytes: int) -> Iterator[bytes]:
    for start in range(0, size, piece_bytes):
        yield connection.execute(
            select(func.substring(ModelVersion.artifact, start + 1, piece_bytes)).where(where)
        ).scalar_one()


def write_artifact(connection: Connection, state: ModelState, key: bytes, *,
                   piece_bytes: int = PIECE_BYTES) -> None:
    """Store ``state``'s artifact signed with ``key`` (:meth:`ModelState.to_bytes`) in its
    version's row, which exists: on PostgreSQL pickled into pieces of ``piece_bytes``, never
    whole in this process."""
    where = ModelVersion.version == int(state.version)
    if connection.dialect.name != "postgresql":
        connection.execute(update(ModelVersion).where(where)
                           .values(artifact=state.to_buffer(key)))
        return
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute("CREATE TEMP TABLE artifact_pieces (n integer, piece bytea) "
                       "ON COMMIT DROP")
        pieces = _Pieces(cursor, piece_bytes)
        signature = state.write_signed(pieces.write, key)
        pieces.flush()
        cursor.execute(
            "UPDATE model_versions SET artifact = %b || COALESCE((SELECT string_agg(piece, "
            "''::bytea ORDER BY n) FROM artifact_pieces), ''::bytea) WHERE version = %s",
            (signature, int(state.version)))
        cursor.execute("DROP TABLE artifact_pieces")
    finally:
        cursor.close()


class _Pieces:
    """A file that sends what is written to it as rows of ``artifact_pieces``, a piece of
    ``piece_bytes`` at a time."""

    def __init__(self, cursor, piece_bytes: int) -> None:
        self.cursor, self.piece_bytes = cursor, piece_bytes
        self.buffer = bytearray()
        self.count = 0

    def write(self, data) -> None:
        view = memoryview(data).cast("B")
        while len(view):
            room = self.piece_bytes - len(self.buffer)
            self.buffer += view[:room]
            view = view[room:]
            if len(self.buffer) >= self.piece_bytes:
                self.flush()

    def flush(self) -> None:
        if self.buffer:
            self.cursor.execute("INSERT INTO artifact_pieces VALUES (%s, %b)",
                                (self.count, self.buffer))
            self.count += 1
            self.buffer = bytearray()
