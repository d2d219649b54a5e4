"""The Celery app a test worker loads: the real app, optionally with a replacement pipeline.

``celery -A tests.integration.worker_app worker`` with ``INSIDERS_TEST_SEGMENT=slow_segment``
(a function of tests.integration.fakes) runs that function instead of the real pipeline.
"""

from __future__ import annotations

import os

from tests.integration import fakes
from worker.celery_app import app

segment_name = os.environ.get("INSIDERS_TEST_SEGMENT")
if segment_name:
    app.conf.insiders_segment = getattr(fakes, segment_name)

__all__ = ["app"]
