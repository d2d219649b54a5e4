"""Property through PostgreSQL COPY: whatever the rows, ingest loses and doubles none.

Half of the 2,000 examples: those whose first file is CSV. The other half, in
test_ingest_property_pg_parquet.py, is a file of its own: the two test processes share them.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ingest_cases import any_kind, check_overlapping_export, piece_rows, rows

pytestmark = pytest.mark.integration


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(first=rows(), second=rows(min_size=0, max_size=10), overlap=st.integers(0, 15),
       second_kind=any_kind, piece_rows=piece_rows)
def test_no_row_lost_or_doubled_through_copy_from_csv_first(
    pg_engine, first, second, overlap, second_kind, piece_rows
):
    kinds = ("csv", second_kind)
    check_overlapping_export(pg_engine, first, second, overlap, kinds, piece_rows)
