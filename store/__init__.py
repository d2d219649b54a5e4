"""The store: one schema and the queries the worker and the dashboard share.

``schema`` (tables), ``db`` (engine, session_scope), ``settings``, ``runs`` (run lifecycle),
``transactions`` (ingest batches, load transactions), ``results`` (model versions, clusters,
labels, events), ``labels`` (labels as spans of runs), ``users`` (accounts, audit),
``webhooks`` (subscriptions, outbox),
``contacts`` (customer contact details), ``forecasts`` (per-run customer forecasts),
``rollup`` (per-customer daily totals), ``features_sql`` (features from them) and
``partitions`` (a run scored in parts).
"""

# tables declared next to their queries join Base.metadata whenever the store is loaded
from store import contacts, forecasts, labels, partitions, rollup, webhooks  # noqa: F401
