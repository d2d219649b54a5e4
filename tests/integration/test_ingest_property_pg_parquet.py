"""Property through PostgreSQL COPY: whatever the rows, ingest loses and doubles none.

Half of the 2,000 examples: those whose first file is Parquet. The other half, in
test_ingest_property_pg_csv.py, is a file of its own: the two test processes share them.
"""

import pytest

from tests.ingest_cases import copy_property

pytestmark = pytest.mark.integration

test_no_row_lost_or_doubled_through_copy_from_parquet_first = copy_property("parquet", 1000)
