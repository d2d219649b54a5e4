"""A model version's artifact read in bounded memory.

An artifact is hundreds of megabytes at a million customers (about 220 MB). Read whole from
PostgreSQL, a ``bytea`` comes hex-encoded (twice its size) and the driver's input buffer grows to
hold the whole message and keeps that size for the connection's life: a 220 MB artifact took a
process from 240 MiB to 1,564 MiB while it was read, and left it 660 MiB larger. Read in pieces
of :data:`PIECE_BYTES` into one buffer, the same artifact peaks at the buffer plus a piece.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select

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
