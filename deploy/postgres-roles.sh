#!/bin/sh
# Run once by the postgres image when its data folder is new (docker-entrypoint-initdb.d):
# the login roles the worker and the dashboard connect as. Their privileges are granted by
# `insiders db upgrade` (the migrate service), which knows the tables: the worker writes runs and
# their results (labels, events, forecasts), the dashboard reads them.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v worker="$INSIDERS_DB_WORKER_ROLE" -v worker_password="$INSIDERS_WORKER_DB_PASSWORD" \
  -v dashboard="$INSIDERS_DB_DASHBOARD_ROLE" \
  -v dashboard_password="$INSIDERS_DASHBOARD_DB_PASSWORD" <<'SQL'
CREATE ROLE :"worker" LOGIN PASSWORD :'worker_password';
CREATE ROLE :"dashboard" LOGIN PASSWORD :'dashboard_password';
SQL
