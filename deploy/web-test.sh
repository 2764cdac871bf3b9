#!/usr/bin/env bash
# The browser test of the web front end (make web-test; make test runs it
# after the Go tests). It needs the stack in the environment (DATABASE_URL,
# REDIS_URL, KAFKA_BROKERS: make web-test starts it) and brings the rest:
#   - Debian's Chromium (apt-get, when /usr/bin/chromium is missing and we
#     are root) and web/'s pinned npm packages (playwright-core, axe-core);
#   - a check that the committed bundle (api/assets/web) is what web/ builds;
#   - a fresh database (migrated and seeded), its own topic, consumer group
#     and Redis key prefixes, and free ports for `evently dev` and paysim,
#     so it never disturbs other work on the same stack;
# then runs web/test/buyer.test.mjs against them and stops what it started.
# Screenshots (desktop 1280x800, phone 390x844) go to WEB_SCREENSHOTS,
# web/screenshots by default (not committed: every run differs); the copies
# docs/web.md shows are refreshed with WEB_SCREENSHOTS=docs/web make web-test.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
: "${DATABASE_URL:?run through make web-test, or eval \"\$(bash deploy/stack.sh env)\" first}"
: "${WEB_SCREENSHOTS:=$ROOT/web/screenshots}"
export WEB_SCREENSHOTS
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
started=$(date +%s)

if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "web-test: installing chromium (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q chromium >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
  else
    echo "web-test: $CHROMIUM is missing: apt-get install chromium (as root), or set CHROMIUM" >&2
    exit 1
  fi
fi
bash deploy/web-build.sh --check
nice -n 10 go build -o bin/ ./cmd/evently ./cmd/paysim

# psql from PATH, else from the PostgreSQL that deploy/stack.sh runs.
PSQL=$(command -v psql || ls -d /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$PSQL" ] || { echo "web-test: psql not found" >&2; exit 1; }

run=web$(date +%s)$$
work=$(mktemp -d)
db=evently_$run
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "$rc" != 0 ]; then
    for f in "$work"/*.log; do echo "--- $(basename "$f") (last 40 lines)"; tail -n 40 "$f"; done
  fi
  "$PSQL" "$DATABASE_URL" -X -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT INT TERM

# A free port from the kernel: nothing else listens there.
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# wait_http NAME URL PID: until URL answers 2xx, PID dies, or 60 s pass.
wait_http() {
  local deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null "$2" 2>/dev/null; do
    kill -0 "$3" 2>/dev/null || { echo "web-test: $1 exited" >&2; return 1; }
    [ "$SECONDS" -lt "$deadline" ] || { echo "web-test: $1 not ready at $2 within 60 s" >&2; return 1; }
    sleep 0.2
  done
}

"$PSQL" "$DATABASE_URL" -X -q -c "CREATE DATABASE $db" >/dev/null
export DATABASE_URL=${DATABASE_URL%%\?*}
DATABASE_URL=${DATABASE_URL%/*}/$db?sslmode=disable
export EVENTLY_TOPIC_PREFIX=$run. EVENTLY_GROUP_PREFIX=$run. EVENTLY_REDIS_PREFIX=$run:
export EVENTLY_JWT_SECRET=web-test-only-secret-0123456789abcdef0123456789
export EVENTLY_LOG_FORMAT=text EVENTLY_LOG_LEVEL=${EVENTLY_LOG_LEVEL:-warn}
export EVENTLY_HTTP_ADDR=127.0.0.1:$(free_port) PAYSIM_ADDR=127.0.0.1:$(free_port)
export EVENTLY_WORKER_ADDR=127.0.0.1:$(free_port)
export EVENTLY_PAYMENT_URL=http://$PAYSIM_ADDR
bin/evently migrate up >"$work/migrate.log" 2>&1
bin/evently seed >"$work/seed.log" 2>&1
bin/paysim >"$work/paysim.log" 2>&1 & pids+=($!)
wait_http paysim "http://$PAYSIM_ADDR/healthz" "${pids[-1]}"
bin/evently dev >"$work/evently.log" 2>&1 & pids+=($!)
wait_http evently "http://$EVENTLY_HTTP_ADDR/readyz" "${pids[-1]}"
echo "web-test: evently dev at http://$EVENTLY_HTTP_ADDR, paysim at $PAYSIM_ADDR, database $db ($(($(date +%s) - started)) s to get here)"

EVENTLY_WEB_URL=http://$EVENTLY_HTTP_ADDR CHROMIUM=$CHROMIUM nice -n 10 node web/test/buyer.test.mjs
