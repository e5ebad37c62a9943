#!/usr/bin/env bash
# Commit throughput of "accept an email" with and without the outbox's NOTIFY trigger.
# usage: bench/outbox-notify/run.sh [seconds] [clients…]   (a scratch database, dropped at the end)
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_PER_RUN=${1:-15}; shift || true
CLIENTS=${*:-8 32}
DB=outbox_notify_bench_$$
PSQL=(psql -h 127.0.0.1 -U postgres -q -v ON_ERROR_STOP=1 -v VERBOSITY=terse)
"${PSQL[@]}" -c "CREATE DATABASE $DB"
trap '"${PSQL[@]}" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"' EXIT
run() { # label, clients
  "${PSQL[@]}" -d "$DB" -c "TRUNCATE emails, outbox" -c "CHECKPOINT"
  echo "== $1, $2 clients"
  pgbench -h 127.0.0.1 -U postgres -n -M prepared -c "$2" -j 2 -T "$SECONDS_PER_RUN" -f accept-email.sql "$DB" \
    | grep -E '^(tps|latency average|latency stddev|number of transactions actually processed)'
}
"${PSQL[@]}" -d "$DB" -f schema.sql
for c in $CLIENTS; do
  "${PSQL[@]}" -d "$DB" -c "CREATE OR REPLACE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify()"
  run "with NOTIFY trigger" "$c"
  "${PSQL[@]}" -d "$DB" -c "DROP TRIGGER outbox_notify ON outbox"
  run "without trigger" "$c"
done
