"""Property: whatever the rows, ingest into the store (SQLite) loses and doubles none.

The 2,000-example run of the same property goes through PostgreSQL
(tests/integration/test_ingest_property_pg_*.py); this one keeps the SQLite path covered.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.db import make_engine
from store.schema import Base
from tests.ingest_cases import check_round_trip, rows


@pytest.fixture(scope="module")
def engine():
    # the product's SQLite engine: with foreign keys on, deleting a batch deletes its invoices
    engine = make_engine("sqlite://")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    first=rows(),
    second=rows(min_size=0, max_size=10),
    overlap=st.integers(0, 15),
    kinds=st.tuples(st.sampled_from(["csv", "parquet"]), st.sampled_from(["csv", "parquet"])),
    twice=st.integers(0, 2).map(lambda n: n == 0),
)
def test_no_row_lost_or_doubled(engine, first, second, overlap, kinds, twice):
    files = [(first, kinds[0])]
    if twice:
        # an export that repeats some of the first file's rows, then new ones
        files.append((first[:overlap] + second or first, kinds[1]))
    with tempfile.TemporaryDirectory() as folder:
        check_round_trip(engine, Path(folder), files)
