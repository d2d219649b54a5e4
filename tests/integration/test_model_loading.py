"""A model version's artifact read in pieces is the artifact stored, and an artifact written in
pieces is the signed pickle, on PostgreSQL and SQLite."""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pytest
from sqlalchemy import Engine, create_engine, insert

from pipeline.model_state import ModelState
from store.artifacts import read_artifact, write_artifact
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


KEY = b"k" * 32


def _state() -> ModelState:
    # an array of 80,000 bytes: pickle writes it in one piece, which the pieces cut
    return ModelState(version=1, fitted_as_of=dt.date(2011, 12, 9), parameters={"a": 1},
                      thresholds={}, clusters=[], metrics={},
                      model={"weights": np.arange(10_000, dtype="float64")})


@pytest.mark.parametrize("piece_bytes", [1_000, 1 << 20])
def test_an_artifact_written_in_pieces_is_the_signed_pickle_on_postgresql(
    clean_db: Engine, piece_bytes
) -> None:
    _store(clean_db, b"")
    state = _state()
    with clean_db.begin() as connection:
        write_artifact(connection, state, KEY, piece_bytes=piece_bytes)
    with clean_db.connect() as connection:
        stored = read_artifact(connection, 1)
    assert bytes(stored) == state.to_bytes(KEY)
    again = ModelState.from_bytes(stored, KEY)
    assert np.array_equal(again.model["weights"], state.model["weights"])


def test_an_artifact_written_on_sqlite(tmp_path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'models.db'}")
    Base.metadata.create_all(engine, tables=[ModelVersion.__table__])
    _store(engine, b"")
    state = _state()
    with engine.begin() as connection:
        write_artifact(connection, state, KEY)
    with engine.connect() as connection:
        assert bytes(read_artifact(connection, 1)) == state.to_bytes(KEY)
