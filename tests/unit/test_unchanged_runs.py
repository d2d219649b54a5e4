"""A run on the same data, parameters and model version as the latest run on its date is
recorded as unchanged: finished, never succeeded, never the current run."""

from __future__ import annotations

from datetime import date

import pytest

import migrations
from store import runs
from store.db import make_engine, session_scope
from store.schema import UNCHANGED

AS_OF = date(2011, 11, 30)
PARAMETERS = {"profile": "default", "n_clusters": 7, "random_state": 42, "n_transactions": 9}


@pytest.fixture
def engine(tmp_path):
    url = f"sqlite:///{tmp_path / 'insiders.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def _succeeded(session, as_of: date = AS_OF, fingerprint: str = "f" * 64) -> int:
    run = runs.create_run(session, trigger="schedule", as_of=as_of)
    runs.claim_run(session, run.id)
    runs.set_run_inputs(session, run.id, as_of=as_of, parameters=PARAMETERS)
    runs.mark_succeeded(session, run.id, data_fingerprint=fingerprint, model_version=1)
    return run.id


def _running(session, as_of: date = AS_OF) -> int:
    run = runs.create_run(session, trigger="manual", as_of=as_of)
    runs.claim_run(session, run.id)
    return run.id


def test_a_repeat_is_recorded_as_unchanged(engine):
    with session_scope(engine) as session:
        first = _succeeded(session)
        second = _running(session)
        same = runs.same_run(session, second, as_of=AS_OF, data_fingerprint="f" * 64,
                             parameters={**PARAMETERS, "n_transactions": 10}, model_version=1)
        assert same is not None and same.id == first
        assert runs.mark_unchanged(session, second, same)
    with session_scope(engine) as session:
        repeat = runs.get_run(session, second)
        assert repeat.status == UNCHANGED and repeat.active_slot is None
        assert f"run #{first}" in repeat.error and "no change" in repeat.error
        assert runs.current_run(session).id == first
        assert runs.active_run(session) is None


@pytest.mark.parametrize("change", [
    {"data_fingerprint": "e" * 64}, {"model_version": 2},
    {"parameters": {**PARAMETERS, "n_clusters": 5}}, {"as_of": date(2011, 12, 31)},
])
def test_any_difference_is_new_history(engine, change):
    with session_scope(engine) as session:
        _succeeded(session)
        later = _running(session, change.get("as_of", AS_OF))
        values = {"as_of": AS_OF, "data_fingerprint": "f" * 64, "parameters": PARAMETERS,
                  "model_version": 1, **change}
        assert runs.same_run(session, later, **values) is None
