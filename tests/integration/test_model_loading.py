"""A model version's artifact read in pieces is the artifact stored, on PostgreSQL and SQLite."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import Engine, create_engine, insert

from store.artifacts import read_artifact
from store.runs import utcnow
from store.schema import Base, ModelVersion

pytestmark = pytest.mark.integration


def _store(engine: Engine, artifact: bytes) -> None:
    with engine.begin() as connection:
        connection.execute(insert(ModelVersion.__table__).values(
            version=1, created_at=utcnow(), fitted_as_of=utcnow().date(), data_fingerprint="x",
            code_version="x", parameters={}, thresholds={}, clusters=[], metrics={},
            artifact=artifact))


@pytest.mark.parametrize("piece_bytes", [1, 4096, 10_000, 1 << 20])
def test_pieces_give_the_stored_artifact_on_postgresql(clean_db: Engine, piece_bytes) -> None:
    artifact = os.urandom(10_000) + bytes(20_000)  # a compressible tail, as a pickle has
    if piece_bytes == 1:
        artifact = artifact[:300]
    _store(clean_db, artifact)
    with clean_db.connect() as connection:
        assert read_artifact(connection, 1, piece_bytes=piece_bytes) == artifact
        assert read_artifact(connection, 2) is None


def test_the_artifact_on_sqlite(tmp_path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'models.db'}")
    Base.metadata.create_all(engine, tables=[ModelVersion.__table__])
    artifact = os.urandom(5_000)
    _store(engine, artifact)
    with engine.connect() as connection:
        assert bytes(read_artifact(connection, 1)) == artifact
        assert read_artifact(connection, 2) is None
