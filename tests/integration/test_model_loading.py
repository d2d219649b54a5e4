"""A model version's artifact read in pieces is the artifact stored, and an artifact written in
pieces is the signed pickle, on PostgreSQL and SQLite; a fast-scoring version is read without
the exact transform's parts."""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pytest
from sqlalchemy import Engine, create_engine, insert

from pipeline.model_state import ModelState
from pipeline.segment import SegmentationModel
from store.artifacts import artifact_pieces, write_artifact
from store.results import model_state
from store.runs import utcnow
from store.schema import Base, ModelVersion
from tests.unit.model_data import make_features

pytestmark = pytest.mark.integration


def read_artifact(connection, version: int, **options) -> bytes | None:
    """The stored artifact whole, from its pieces (None when there is no such version)."""
    pieces = artifact_pieces(connection, version, **options)
    return None if pieces is None else b"".join(bytes(piece) for piece in pieces)


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


def test_a_fast_scoring_version_is_read_without_its_exact_parts_on_postgresql(
    clean_db: Engine
) -> None:
    features = make_features(900, seed=5)
    model = SegmentationModel(n_estimators=20, random_state=3, max_fit_customers=500).fit(features)
    state = ModelState(version=1, fitted_as_of=dt.date(2011, 12, 9), parameters={},
                       thresholds={}, clusters=[], metrics={}, model=model)
    _store(clean_db, b"")
    with clean_db.begin() as connection:
        write_artifact(connection, state, KEY, piece_bytes=50_000)
    new = make_features(200, seed=8)
    with clean_db.connect() as connection:
        lighter = ModelState.from_pieces(artifact_pieces(connection, 1, piece_bytes=10_000), KEY,
                                         exact=False).model
        whole = model_state(connection, 1, KEY).model
        assert artifact_pieces(connection, 2) is None
    parts = SegmentationModel.EXACT_TRANSFORM_PARTS
    assert not any(hasattr(lighter, name) for name in parts)
    assert all(hasattr(whole, name) for name in parts)
    np.testing.assert_array_equal(lighter.predict(new), model.predict(new))
    np.testing.assert_array_equal(whole.predict(new), model.predict(new))
