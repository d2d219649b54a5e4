"""A model version's artifact read and written in bounded memory.

An artifact is hundreds of megabytes at a million customers (about 220 MB). Read whole from
PostgreSQL, a ``bytea`` comes hex-encoded (twice its size) and the driver's input buffer grows to
hold the whole message and keeps that size for the connection's life: a 220 MB artifact took a
process from 240 MiB to 1,564 MiB while it was read, and left it 660 MiB larger. Read in pieces
of :data:`PIECE_BYTES` into one buffer, the same artifact peaks at the buffer plus a piece.
Written in one statement, the driver's output buffer held the whole artifact beside it (a refit
at a million customers went 420 MB higher, and stayed there): it is pickled straight into pieces
that a temporary table collects, and the database joins them.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select, update

from pipeline.model_state import ModelState
from store.schema import ModelVersion

PIECE_BYTES = 32 * 2**20


def read_artifact(connection: Connection, version: int, *,
                  piece_bytes: int = PIECE_BYTES) -> bytes | bytearray | None:
    """Model version ``version``'s artifact (None when there is no such version): in pieces of
    ``piece_bytes`` on PostgreSQL, whole elsewhere (SQLite hands the bytes over as they are)."""
    where = ModelVersion.version == int(version)
    if connection.dialect.name != "postgresql":
        return connection.execute(select(ModelVersion.artifact).where(where)).scalar()
    size = connection.execute(select(func.octet_length(ModelVersion.artifact))
                              .where(where)).scalar()
    if size is None:
        return None
    buffer = bytearray(size)
    for start in range(0, size, piece_bytes):
        piece = connection.execute(
            select(func.substring(ModelVersion.artifact, start + 1, piece_bytes)).where(where)
        ).scalar_one()
        buffer[start:start + len(piece)] = piece
    return buffer


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
