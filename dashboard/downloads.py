"""Files the pages download from an address of their own, sent in parts as they are made: the
changes of a long period are hundreds of thousands of rows, too many to pass through a
callback (whose answer the browser receives whole, as JSON, before saving a byte).
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import flask

from dashboard import data, data_period, widgets

blueprint = flask.Blueprint("downloads", __name__)

CHANGES_PATH = "/download/changes.csv"


def changes_href(run_from: object, run_to: object) -> str:
    """The address of the CSV of every entry and exit from run ``run_from`` to ``run_to``."""
    return f"{CHANGES_PATH}?{urlencode({'from': run_from, 'to': run_to})}"


@blueprint.get(CHANGES_PATH)
def changes_csv() -> flask.Response:
    """Every entry and exit between two succeeded runs (``from`` and ``to``, either order)
    (``data_period.period_csv_parts``), or a note saying the runs are not available."""
    run_from = data.succeeded_id(flask.request.args.get("from", ""))
    run_to = data.succeeded_id(flask.request.args.get("to", ""))
    if run_from is None or run_to is None or run_from == run_to:
        return _attachment(iter([widgets.NO_SUCH_RUN + "\n"]), "not-available.txt",
                           "text/plain")
    older, newer = data.get_run(run_from), data.get_run(run_to)
    if (older["as_of"], older["id"]) > (newer["as_of"], newer["id"]):
        run_from, run_to = run_to, run_from
    filename, parts = data_period.period_csv_parts(run_from, run_to)
    return _attachment(parts, filename, "text/csv")


def _attachment(parts: Iterator[str], filename: str, mimetype: str) -> flask.Response:
    response = flask.Response(flask.stream_with_context(parts), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
