#!/usr/bin/env bash
# deploy/bench.sh — the standard on-sale benchmark suite (`make bench`).
#
# 1. The conventional baseline: bin/evently-naive (one request, one
#    transaction, SELECT … FOR UPDATE) over its own database, driven by the
#    generator; audited afterwards.
# 2. Evently as separate processes (bin/evently api, bin/evently work
#    -kinds booking ×2, the other worker kinds, bin/paysim), same buyers and
#    seat counts; audited; compared with the baseline as ratios.
# 3. Chaos runs (BENCH_CHAOS=1, the default), each on a fresh event and each
#    audited: SIGKILL a booking/payment worker every few seconds (a
#    supervisor loop restarts it), a Kafka broker restart, a payment gateway
#    outage, a Redis restart.
# 4. Rewrites the section of BENCHMARKS.md between <!-- bench:begin --> and
#    <!-- bench:end --> with the machine, the commands and the figures, and
#    copies the charts to docs/bench/.
#
# Every process listens on 127.0.0.1; every run is bounded by its buyer count
# and BENCH_DURATION. The suite stops what it started on exit.
#
# Stack: by default (BENCH_STACK=own) the suite runs its own PostgreSQL,
# Redis and Kafka under .bench/stack on other ports (25432, 26379, 29092), so
# restarting the broker or Redis never disturbs other work on the shared
# `make stack`; it stops them at the end unless BENCH_KEEP_STACK=1.
# BENCH_STACK=shared uses the stack in the environment (DATABASE_URL, ...)
# and skips the broker and Redis restarts.
#
# Environment (all optional):
#   BENCH_BUYERS=8000 BENCH_SEATS=20000 BENCH_CONCURRENCY=512 BENCH_DURATION=60s
#   BENCH_STRATEGY=random BENCH_MAX_SEATS=2 BENCH_ABANDON=0.05 BENCH_DECLINE=0.02
#   BENCH_CHAOS_BUYERS=2400 (per chaos run, arriving at 60/s)
#   BENCH_HOLDS_RATE=1000 BENCH_HOLDS_BUYERS=8000 (holds alone, open loop; 0 skips)
#   BENCH_PIPELINE=1 (the booking pipeline alone: rate and batch-size sweeps)
#   BENCH_ONSALE=1 (0 skips the on-sale and checkout runs)
#   BENCH_FOLLOW=poll  BENCH_CHAOS=1  BENCH_STACK=own|shared  BENCH_NAIVE=1 (0: skip the baseline)
#   BENCH_SEAT_MAP_TTL=0s (share seat maps between buyers)  BENCH_POLL_EVERY=100ms
#   BENCH_OUT=.bench/<timestamp>  BENCH_PUBLISH=1 (rewrite BENCHMARKS.md)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

BUYERS=${BENCH_BUYERS:-8000}
SEATS=${BENCH_SEATS:-20000}
CONC=${BENCH_CONCURRENCY:-512}
DUR=${BENCH_DURATION:-60s}
STRATEGY=${BENCH_STRATEGY:-random}
MAXSEATS=${BENCH_MAX_SEATS:-2}
ABANDON=${BENCH_ABANDON:-0.05}
DECLINE=${BENCH_DECLINE:-0.02}
FOLLOW=${BENCH_FOLLOW:-stream}
SEATMAP_TTL=${BENCH_SEAT_MAP_TTL:-1s}
POLL_EVERY=${BENCH_POLL_EVERY:-100ms}
CHAOS=${BENCH_CHAOS:-1}
NAIVE=${BENCH_NAIVE:-1}
HOLDS_RATE=${BENCH_HOLDS_RATE:-1000}
PIPELINE=${BENCH_PIPELINE:-1}
ONSALE=${BENCH_ONSALE:-1}
CHAOS_BUYERS=${BENCH_CHAOS_BUYERS:-2400}
HOLDS_BUYERS=${BENCH_HOLDS_BUYERS:-8000}
STACK_MODE=${BENCH_STACK:-own}
PUBLISH=${BENCH_PUBLISH:-1}
OUT=${BENCH_OUT:-.bench/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT/pids" "$OUT/logs"
OUT=$(cd "$OUT" && pwd -P)

API_ADDR=127.0.0.1:18080
NAIVE_ADDR=127.0.0.1:18180
PAYSIM_ADDR=127.0.0.1:18090

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

for b in evently evently-bench evently-naive paysim; do
  [ -x "bin/$b" ] || die "bin/$b is missing: run make build (cmd/$b must exist and build)"
done

# --- the stack ---------------------------------------------------------------
STACK_DIR=$ROOT/.stack
if [ "$STACK_MODE" = own ]; then
  export EVENTLY_STACK_DIR=$ROOT/.bench/stack EVENTLY_PG_PORT=25432 EVENTLY_REDIS_PORT=26379 \
    EVENTLY_KAFKA_PORT=29092 EVENTLY_KAFKA_CONTROLLER_PORT=29093 EVENTLY_PG_FAST=${EVENTLY_PG_FAST:-}
  STACK_DIR=$EVENTLY_STACK_DIR
  log "starting the bench's own stack under $STACK_DIR"
  bash deploy/stack.sh up >&2
  eval "$(bash deploy/stack.sh env)"
elif [ -z "${DATABASE_URL:-}" ]; then
  eval "$(bash deploy/stack.sh env)"
fi
ADMIN_URL=$DATABASE_URL

pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "$STACK_MODE" = own ] && [ -z "${BENCH_KEEP_STACK:-}" ]; then bash deploy/stack.sh down >&2 || true; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# supervise NAME CMD...: runs CMD, restarting it when it dies (the chaos
# SIGKILLs it), writing the current pid to $OUT/pids/NAME.pid. Ends on TERM.
supervise() {
  local name=$1; shift
  (
    child=
    trap '[ -n "$child" ] && kill "$child" 2>/dev/null; wait; exit 0' TERM INT
    while :; do
      "$@" >>"$OUT/logs/$name.log" 2>&1 &
      child=$!
      echo "$child" >"$OUT/pids/$name.pid"
      wait "$child" || true
      echo "--- $(date -u +%T) $name exited, restarting" >>"$OUT/logs/$name.log"
      sleep 0.5
    done
  ) &
  pids+=($!)
}

wait_http() { # URL WHAT
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  die "$2 did not become ready at $1 (logs in $OUT/logs)"
}

CMDS=$OUT/commands.txt
: >"$CMDS"
# bench CMD...: run the harness, recording the command line.
bench() {
  echo "bin/evently-bench $*" >>"$CMDS"
  bin/evently-bench "$@"
}

COMMON=(-buyers "$BUYERS" -concurrency "$CONC" -duration "$DUR" -strategy "$STRATEGY" -max-seats "$MAXSEATS"
  -abandon "$ABANDON" -retries 2 -seed 42 -settle-wait 90s -seat-map-ttl "$SEATMAP_TTL" -poll-every "$POLL_EVERY")

# --- 1. the naive baseline -----------------------------------------------------
if [ "$NAIVE" = 1 ]; then
  log "naive baseline: setup"
  NAIVE_URL=$(bench setup -db "$ADMIN_URL" -recreate evently_bench_naive -users "$BUYERS" -seats "$SEATS" -out "$OUT/setup-naive.json")
  echo "bin/evently-naive -addr $NAIVE_ADDR -db <bench database evently_bench_naive> -conns 20" >>"$CMDS"
  bin/evently-naive -addr "$NAIVE_ADDR" -db "$NAIVE_URL" -conns 20 >>"$OUT/logs/naive.log" 2>&1 &
  naive_pid=$!
  pids+=($naive_pid)
  wait_http "http://$NAIVE_ADDR/healthz" evently-naive
  log "naive baseline: run"
  bench run -name naive -api naive -target "http://$NAIVE_ADDR" -setup "$OUT/setup-naive.json" "${COMMON[@]}" \
    -decline 0 -audit-db "$NAIVE_URL" -out "$OUT/naive-onsale" >/dev/null
  kill "$naive_pid"; wait "$naive_pid" 2>/dev/null || true
fi

# --- 2. Evently as separate processes -----------------------------------------
log "evently: setup"
EV_URL=$(bench setup -db "$ADMIN_URL" -recreate evently_bench -users "$BUYERS" -seats "$SEATS" -out "$OUT/setup-evently.json")
RUN_ID=b$(date +%s)
export DATABASE_URL=$EV_URL EVENTLY_TOPIC_PREFIX=$RUN_ID. EVENTLY_GROUP_PREFIX=$RUN_ID. EVENTLY_REDIS_PREFIX=$RUN_ID:
export EVENTLY_HTTP_ADDR=$API_ADDR EVENTLY_PAYMENT_URL=http://$PAYSIM_ADDR PAYSIM_ADDR=$PAYSIM_ADDR
export EVENTLY_JWT_SECRET=${EVENTLY_JWT_SECRET:-bench-only-secret-0123456789abcdef0123456789}
export EVENTLY_LOG_LEVEL=${EVENTLY_LOG_LEVEL:-warn} EVENTLY_LOG_FORMAT=text
# Rate limits off for the run (0 turns a limit off, app/wire_auth.go): the
# bench's buyers are few IPs and many users; the limits are not under test.
export EVENTLY_RATE_LOGIN=0 EVENTLY_RATE_AUTH=0 EVENTLY_RATE_HOLDS=0 EVENTLY_RATE_BOOKINGS=0 EVENTLY_RATE_READS=0
# Short payment window so unpaid bookings settle within the audit's wait.
export EVENTLY_PAYMENT_WINDOW=${EVENTLY_PAYMENT_WINDOW:-60s}
kinds=$(bin/evently work -h 2>&1 | grep -A1 -- '-kinds' | grep -o 'default "[^"]*"' | head -1 | sed 's/default "//; s/"//' || true)
[ -n "$kinds" ] || die "cannot list worker kinds from bin/evently work -h"
log "evently: worker kinds: $kinds"
{
  echo "# Evently processes (env: rate limits off, EVENTLY_PAYMENT_WINDOW=$EVENTLY_PAYMENT_WINDOW, topic/group/Redis prefix $RUN_ID)"
  echo "bin/paysim   # on $PAYSIM_ADDR"
  echo "bin/evently api   # on $API_ADDR"
} >>"$CMDS"
supervise paysim bin/paysim
supervise api bin/evently api
n=0
killable=()
for k in ${kinds//,/ }; do
  copies=1
  [ "$k" = booking ] && copies=2
  for i in $(seq 1 $copies); do
    n=$((n + 1))
    echo "bin/evently work -kinds $k -addr 127.0.0.1:$((18180 + n))" >>"$CMDS"
    supervise "$k-$i" bin/evently work -kinds "$k" -addr "127.0.0.1:$((18180 + n))"
    case $k in booking|payment) killable+=("$OUT/pids/$k-$i.pid") ;; esac
  done
done
wait_http "http://$PAYSIM_ADDR/healthz" paysim
wait_http "http://$API_ADDR/readyz" "evently api"
sleep 3 # the consumer groups' first join

EVRUN=(-api evently -target "http://$API_ADDR" -follow "$FOLLOW" -decline "$DECLINE" -audit-db "$EV_URL"
  -paysim "http://$PAYSIM_ADDR" -stack-dir "$STACK_DIR")
log "evently: run"
status=0
metrics() { bin/evently-bench server-time -scrape "http://$API_ADDR/metrics" -out "$OUT/$1.prom"; }
metrics m0
if [ "$ONSALE" = 1 ]; then
  # Like for like with the baseline: a buyer is done once the booking is
  # committed (the naive server has no payment step).
  bench run -name evently "${EVRUN[@]}" -setup "$OUT/setup-evently.json" "${COMMON[@]}" -pay=false -out "$OUT/evently-onsale" >/dev/null || status=1
  metrics m1
  # The whole checkout: pay with a token and follow to confirmed.
  bench setup -db "$EV_URL" -users "$BUYERS" -seats "$SEATS" -out "$OUT/setup-checkout.json" >/dev/null
  log "evently: checkout run (with payment)"
  bench run -name evently-checkout "${EVRUN[@]}" -setup "$OUT/setup-checkout.json" "${COMMON[@]}" -out "$OUT/evently-checkout" >/dev/null || status=1
  metrics m1b
fi

# Holds alone at a fixed offered rate (open loop): the hold latency target.
if [ "$HOLDS_RATE" != 0 ]; then
  bench setup -db "$EV_URL" -users "$HOLDS_BUYERS" -seats "$SEATS" -out "$OUT/setup-holds.json" >/dev/null
  log "evently: holds at $HOLDS_RATE/s"
  bench run -name evently-holds "${EVRUN[@]}" -setup "$OUT/setup-holds.json" -scenario holds -rate "$HOLDS_RATE" \
    -buyers "$HOLDS_BUYERS" -concurrency 1024 -max-seats 1 -seat-map-ttl 5s -duration "$DUR" -seed 7 \
    -out "$OUT/evently-holds" >/dev/null || status=1
  metrics m2
fi

# The booking pipeline alone (Kafka → booking worker → PostgreSQL → status
# feed), in-process, one hot event: offered vs committed rate, and batch size.
if [ "$PIPELINE" = 1 ]; then
  log "pipeline: rates"
  bench pipeline -db "$ADMIN_URL" -rates 1000,2000,4000,6000 -batch-sizes 200 -duration 3s -out "$OUT/pipeline-rates.md" >/dev/null || status=1
  log "pipeline: batch sizes"
  bench pipeline -db "$ADMIN_URL" -rates 2000 -batch-sizes 1,10,50,200,500 -duration 2s -out "$OUT/pipeline-batches.md" >/dev/null || status=1
fi
runs=()
[ "$ONSALE" = 1 ] && runs=(evently-onsale evently-checkout)
[ "$NAIVE" = 1 ] && runs=(naive-onsale "${runs[@]}")
[ "$HOLDS_RATE" != 0 ] && runs+=(evently-holds)

chaos_run() { # NAME FLAGS...
  local name=$1; shift
  bench setup -db "$EV_URL" -users "$BUYERS" -seats "$SEATS" -out "$OUT/setup-$name.json" >/dev/null
  log "chaos: $name"
  bench run -name "$name" "${EVRUN[@]}" -setup "$OUT/setup-$name.json" "${COMMON[@]}" -buyers "$CHAOS_BUYERS" "$@" -out "$OUT/$name" >/dev/null || status=1
  runs+=("$name")
}
if [ "$CHAOS" = 1 ] && [ $status = 0 ]; then
  if [ ${#killable[@]} -gt 0 ]; then
    chaos_run chaos-kill-workers -rate 60 -kill-every 4s -kill-from 3s -kill-pidfiles "$(IFS=,; echo "${killable[*]}")"
  fi
  chaos_run chaos-payment-outage -rate 60 -outage-at 5s -outage-for 8s
  if [ "$STACK_MODE" = own ]; then
    chaos_run chaos-kafka-restart -rate 60 -kafka-restart-at 6s
    chaos_run chaos-redis-restart -rate 60 -redis-restart-at 6s
  else
    log "BENCH_STACK=shared: skipping the broker and Redis restarts (they would disturb the shared stack)"
  fi
fi

# --- 4. the report --------------------------------------------------------------
SECTION=$OUT/section.md
[ "$PUBLISH" = 1 ] && mkdir -p docs/bench
{
  echo "## On-sale suite (\`make bench\`)"
  echo
  echo "Generated by \`deploy/bench.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') at commit \`$(git rev-parse --short HEAD 2>/dev/null || echo unknown)\`."
  echo
  echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/^Mem:/{print $2}') GiB memory, $(go version | cut -d' ' -f3-), $(uname -sr)." \
    "PostgreSQL, Redis and Kafka ($STACK_MODE stack) run on the same machine as Evently and the load generator, so every figure includes their competition for the CPUs."
  echo
  echo "### Evently vs the conventional baseline"
  echo
  echo "Same buyers, same seat count, same generator settings; ratio = Evently ÷ naive (for latencies, above 1 means Evently is slower)."
  echo "For the naive server a booking is final when the request answers; for Evently, *submit* is the 202 and *time to terminal* runs from the submit until the generator saw the settled state (polling every 100 ms adds up to 100 ms)."
  echo
  bin/evently-bench compare -base "$OUT/naive-onsale.json" -cand "$OUT/evently-onsale.json" 2>&1 || echo "(comparison unavailable: the Evently run produced no result)"
  echo
  echo "### Server-side latency"
  echo
  echo "The API's own histogram (\`evently_http_request_seconds\`, bucket upper bounds) between /metrics snapshots: without the load generator's scheduling delay on the shared cores."
  echo
  if [ -f "$OUT/m1.prom" ]; then
    echo "On-sale run (to committed):"; echo
    bin/evently-bench server-time -before "$OUT/m0.prom" -after "$OUT/m1.prom" || true
    echo
  fi
  if [ -f "$OUT/m2.prom" ]; then
    echo "Holds at $HOLDS_RATE/s offered:"; echo
    bin/evently-bench server-time -before "$OUT/$(ls "$OUT" | grep -q m1b.prom && echo m1b || echo m0).prom" -after "$OUT/m2.prom" -routes "POST /api/v1/events/{id}/holds" || true
    echo
  fi
  if [ -f "$OUT/pipeline-rates.md" ]; then
    echo "### Hot event: the booking pipeline alone"
    echo
    echo "\`evently-bench pipeline\` offers book commands for one 20,000-seat event (one partition) straight to Kafka at a fixed rate; the production booking worker commits them; latency runs from the offer until the committed status reaches the Redis status feed (what a client streaming its booking sees). No HTTP front end and no load generator compete for the cores here."
    echo
    echo "Offered rate (batch size 200):"; echo
    cat "$OUT/pipeline-rates.md"; echo
    echo "Batch size at 2,000 bookings/s offered:"; echo
    cat "$OUT/pipeline-batches.md"; echo
  fi
  echo "### Runs"
  echo
  for r in "${runs[@]}"; do
    if [ -f "$OUT/$r.md" ]; then
      sed 's/^#### /#### /' "$OUT/$r.md"
      chart=$OUT/$r.svg
      if [ "$PUBLISH" = 1 ]; then cp "$OUT/$r.svg" "docs/bench/$r.svg"; chart=docs/bench/$r.svg; fi
      echo
      echo "![$r]($chart)"
      echo
    else
      echo "#### $r"; echo; echo "No result: see \`$OUT/logs\` and the run's stderr."; echo
    fi
  done
  echo "### Commands"
  echo
  echo '```sh'
  echo "make bench   # = bash deploy/bench.sh with: BENCH_BUYERS=$BUYERS BENCH_SEATS=$SEATS BENCH_CONCURRENCY=$CONC BENCH_DURATION=$DUR BENCH_STRATEGY=$STRATEGY BENCH_STACK=$STACK_MODE"
  sed -e "s#$OUT#\$OUT#g" -e 's#postgres://[^ ]*#<db>#g' "$CMDS"
  echo '```'
} >"$SECTION"
if [ "$PUBLISH" = 1 ]; then
  bin/evently-bench publish -file BENCHMARKS.md -section "$SECTION"
  log "BENCHMARKS.md updated (results in $OUT)"
fi
[ $status = 0 ] || die "a run or its audit failed; see above and $OUT"
log "done: results in $OUT"
