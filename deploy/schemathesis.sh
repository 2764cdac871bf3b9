#!/usr/bin/env bash
# Property-based test of the running API against its own contract: a fresh
# database with the demo data, the API, the workers and the payment
# simulator on free ports, then Schemathesis (PyPI) generating requests from
# the served api/openapi.yaml as the seeded organizer, with every check on.
# Any finding (a 5xx, an undocumented status, header or body, a valid request
# refused, an invalid one accepted, a 405 without Allow...) fails the run.
#
# Usage: deploy/schemathesis.sh [SCHEMATHESIS RUN FLAGS]
#   (make schemathesis builds bin/ first). Flags go to `schemathesis run`
#   after the defaults below, e.g. --phases examples,coverage or
#   --include-path-regex '^/api/v1/events' to look at one part.
# Needs the stack (make stack) and DATABASE_URL, REDIS_URL, KAFKA_BROKERS as
# `deploy/stack.sh env` prints them; defaults are the stack's own.
# Environment (optional):
#   SCHEMATHESIS_EXAMPLES  test cases per operation and phase (default 50)
#   SCHEMATHESIS_SEED      generator seed (default 1; same seed, same run)
#   SCHEMATHESIS_TIMEOUT   hard bound on the Schemathesis run, seconds (170)
# Schemathesis lives in a venv under .tools/ (git-ignored), built on first
# use and rebuilt only when deploy/schemathesis.requirements.txt changes.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.tools/schemathesis-venv
req=deploy/schemathesis.requirements.txt
examples=${SCHEMATHESIS_EXAMPLES:-50}
seed=${SCHEMATHESIS_SEED:-1}
bound=${SCHEMATHESIS_TIMEOUT:-170}
: "${DATABASE_URL:=postgres://evently:evently@127.0.0.1:15432/evently?sslmode=disable}"
: "${REDIS_URL:=redis://127.0.0.1:16379/0}"
: "${KAFKA_BROKERS:=127.0.0.1:19092}"
export REDIS_URL KAFKA_BROKERS

log() { printf 'schemathesis: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
for b in bin/evently bin/paysim; do
  [ -x "$b" ] || die "$b is missing: run make build (or make schemathesis)"
done

# The venv records the requirements it was built from; a mismatch (or a
# half-built venv from an interrupted run) starts it again.
if ! cmp -s "$req" "$venv/.requirements" 2>/dev/null || [ ! -x "$venv/bin/schemathesis" ]; then
  log "installing Schemathesis into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$req"
  cp "$req" "$venv/.requirements"
fi

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
api=127.0.0.1:$(free_port)
paysim=127.0.0.1:$(free_port)
probe=127.0.0.1:$(free_port)

# A run of its own: database, Redis keys, topics and consumer groups, so it
# neither sees nor disturbs make run's data or a test running beside it.
run=st$(date +%s)$$
base=${DATABASE_URL%%\?*}
query=${DATABASE_URL#"$base"}
db_url=${base%/*}/$run$query
logs=$(mktemp -d)
pids=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ ${#pids[@]} -gt 0 ]; then
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  psql -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $run WITH (FORCE)" >/dev/null 2>&1 || true
  redis-cli -u "$REDIS_URL" --scan --pattern "$run:*" 2>/dev/null | xargs -r redis-cli -u "$REDIS_URL" unlink >/dev/null 2>&1 || true
  if [ "$rc" != 0 ]; then
    for f in "$logs"/*.log; do log "--- last lines of $(basename "$f")"; tail -n 20 "$f" >&2 || true; done
  fi
  rm -rf "$logs"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "CREATE DATABASE $run" >/dev/null
export DATABASE_URL=$db_url EVENTLY_REDIS_PREFIX=$run: EVENTLY_TOPIC_PREFIX=$run. EVENTLY_GROUP_PREFIX=$run.
export EVENTLY_PARTITIONS=1 EVENTLY_HTTP_ADDR=$api EVENTLY_WORKER_ADDR=$probe EVENTLY_PAYMENT_URL=http://$paysim
export PAYSIM_ADDR=$paysim EVENTLY_LOG_FORMAT=text EVENTLY_LOG_LEVEL=warn
export EVENTLY_JWT_SECRET=${EVENTLY_JWT_SECRET:-schemathesis-only-secret-0123456789abcdef}
# Rate limits off (0, app/wire_auth.go): thousands of requests from one
# user would otherwise test the limiter, not the contract.
export EVENTLY_RATE_LOGIN=0 EVENTLY_RATE_AUTH=0 EVENTLY_RATE_HOLDS=0 EVENTLY_RATE_BOOKINGS=0 EVENTLY_RATE_READS=0
# Generated webhook URLs name any host: allowing private ones skips the
# DNS look-up on registration, and the webhooks worker (the one kind that
# would post to them) does not run, so nothing leaves this machine.
export EVENTLY_WEBHOOK_ALLOW_PRIVATE=true
bin/evently migrate up >"$logs/migrate.log" 2>&1
bin/evently seed >"$logs/seed.log" 2>&1
kinds=$(bin/evently work -h 2>&1 | grep -A1 -- '-kinds' | grep -o 'default "[^"]*"' | head -1 | sed 's/default "//; s/"//')
kinds=$(tr ',' '\n' <<<"$kinds" | grep -vx webhooks | paste -sd, -)
[ -n "$kinds" ] || die "cannot list worker kinds from bin/evently work -h"
bin/paysim >"$logs/paysim.log" 2>&1 & pids+=($!)
bin/evently api >"$logs/api.log" 2>&1 & pids+=($!)
bin/evently work -kinds "$kinds" >"$logs/work.log" 2>&1 & pids+=($!)

# Ready when each answers, within a deadline; a process that died fails now.
deadline=$((SECONDS + 60))
for url in "http://$paysim/healthz" "http://$api/readyz" "http://$probe/readyz"; do
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || die "a process exited before $url answered"; done
    [ $SECONDS -lt $deadline ] || die "$url did not answer within 60 s"
    sleep 0.2
  done
done

# The seeded organizer (store/seed.go) owns venues and events, so the
# organizer routes have data; an admin would make every route answer.
token=$(curl -fsS "http://$api/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d '{"email":"organizer1@evently.test","password":"evently-organizer-demo"}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

log "$examples examples per operation, seed $seed, at most $bound s; API http://$api, run $run"
start=$SECONDS
# Left out: logout, which revokes the token the rest of the run signs in
# with, and the two server-sent event streams, which stay open until the
# client gives up (each request would cost the whole request timeout; the
# Go tests in api/streams_test.go and notifications_test.go hold them). One
# worker: generation is Python and holds the GIL, so a second buys little,
# and two threads parsing lambdas at once trip a CPython 3.11 AST bug
# ("recursion depth mismatch"). The generated data is derandomized (same
# seed, same requests); the timeout is the hard bound, since
# Schemathesis's own --max-time keeps fuzzing until it is spent.
rc=0
timeout --kill-after=10 "$bound" "$venv/bin/schemathesis" --config-file deploy/schemathesis.toml run "http://$api/openapi.yaml" \
  --url "http://$api" \
  -H "Authorization: Bearer $token" \
  --checks all \
  --exclude-path-regex '^/api/v1/auth/logout' \
  --exclude-path /api/v1/notifications/stream --exclude-path '/api/v1/bookings/{id}/events' \
  --max-examples "$examples" \
  --seed "$seed" --generation-deterministic \
  --workers 1 \
  --request-timeout 15 \
  --no-color \
  --warnings off \
  "$@" \
  >"$logs/schemathesis.out" 2>&1 || rc=$?
cat "$logs/schemathesis.out"
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
  die "Schemathesis did not finish within $bound s"
fi
[ "$rc" = 0 ] || die "Schemathesis found problems (exit $rc); see above"
log "clean in $((SECONDS - start)) s"
