#!/usr/bin/env bash
# deploy/bench.sh — the standard on-sale benchmark suite (`make bench`).
#
# One run, one machine, one stack, the same buyer journey and load shape on
# both sides: sign in (before the clock), seat map, hold, book with a payment
# token and an Idempotency-Key, follow the booking until the buyer sees it
# settled. Two load shapes:
#   disjoint  every journey its own seat (-strategy disjoint -max-seats 1):
#             no contention, the cost of a booking itself;
#   hot       journeys fight over the best 200 seats, 1–4 each
#             (-strategy front -front-seats 200 -max-seats 4): 409s, retries.
# Both with 200 closed-loop buyers over 400 accounts (-concurrency 200
# -accounts 400), so each account makes many journeys.
#
# In this order:
# 1. naive disjoint, naive hot: bin/evently-naive (holds in PostgreSQL; the
#    booking charges paysim inside its transaction and answers final).
# 2. Evently as `evently dev` (one process: API + every worker, as `make run`
#    starts it; paysim its own process): poll disjoint, poll hot, stream
#    disjoint, stream hot.
# 3. Evently as `evently api` + `evently work` processes (BENCH_WORKERS=one,
#    the default: one `evently work` with every kind; per-kind: booking ×2
#    and one per other kind, as the chaos runs use): the same four runs.
# Every run gets a freshly seeded event (`evently-bench setup`), is audited
# (zero oversell, every accepted booking settled, the gateway's ledger
# reconciled) and measures the CPU time of every process on the machine
# during its load phase. Then `evently-bench compare` tables (Evently ÷
# naive, per mode, shape and follow) go into BENCHMARKS.md between
# <!-- bench:begin --> and <!-- bench:end -->, with the command lines.
#
# Opt-in extras after step 3 (all off by default to keep the suite under
# ~10 minutes): BENCH_HOLDS_RATE=N (holds alone, open loop), BENCH_PIPELINE=1
# (the booking pipeline alone), BENCH_CHAOS=1 (worker SIGKILLs, payment
# outage, broker and Redis restarts, each audited).
#
# Every process listens on 127.0.0.1; every run is bounded by its journey
# count and BENCH_DURATION. The suite stops what it started on exit.
#
# Stack: by default (BENCH_STACK=own) the suite runs its own PostgreSQL,
# Redis and Kafka under .bench/stack (BENCH_STACK_DIR) on ports derived from
# BENCH_PORT_BASE (default 20000: PostgreSQL 25432, Redis 26379, Kafka
# 29092/29093; Evently's API 28080, naive 28180, paysim 28090, workers
# 28181…), so restarting the broker or Redis never disturbs other work; it
# stops them at the end unless BENCH_KEEP_STACK=1. Two suites on one machine
# need different BENCH_PORT_BASE and BENCH_STACK_DIR. BENCH_STACK=shared uses
# the stack in the environment (DATABASE_URL, ...) and skips the broker and
# Redis restarts.
#
# Environment (all optional):
#   BENCH_JOURNEYS=20000 BENCH_SEATS=20000 BENCH_CONCURRENCY=200 BENCH_ACCOUNTS=400
#   BENCH_DURATION=25s (per run) BENCH_ABANDON=0.05 BENCH_DECLINE=0.02 BENCH_RETRIES=2
#   BENCH_HOT_SEATS=200 BENCH_HOT_MAX_SEATS=4 BENCH_SEAT_MAP_TTL=1s
#   BENCH_POLL_EVERY=0 (0: the adaptive poll schedule)
#   BENCH_RATE=0 (0: closed loop; N: open loop at N arrivals/s, at most
#     BENCH_CONCURRENCY in flight: compares CPU per booking at one load)
#   BENCH_EVENTLY_GOMAXPROCS=1 (Evently's processes; empty: the runtime's default)
#   BENCH_WAITLIST=1 (on evently dev: cancellation -> waitlist.offered) BENCH_WAITLIST_SEATS=500
#   BENCH_WAITLIST_PEOPLE=1000 BENCH_WAITLIST_CANCELS=400 BENCH_WAITLIST_RATE=50
#   BENCH_GEN_PROFILE= (1: the generator's CPU profile of each run in $OUT/NAME.generator.pprof)
#   BENCH_WARMUP=8s (an unmeasured run before each side's measured runs; 0: none)
#   BENCH_BROKER_WARMUP=45s (the booking pipeline alone first, so Kafka's JVM is warm; 0: none)
#   BENCH_NAIVE=1 BENCH_DEV=1 BENCH_SPLIT=1 (0 skips that side) BENCH_WORKERS=one|per-kind
#   BENCH_MIXED="1 2 4" (opt-in, last: the mixed scenario, BENCH_MIXED_EVENTS=24
#     events of BENCH_MIXED_SEATS=2000 seats with Zipf popularity, on `evently
#     api`, one `evently work` of the other kinds and N `evently work -kinds
#     booking` processes, for each N listed)
#   BENCH_SHAPES="disjoint hot" BENCH_FOLLOWS="poll stream"
#   BENCH_CHAOS=0 BENCH_CHAOS_BUYERS=2400  BENCH_HOLDS_RATE=0 BENCH_HOLDS_BUYERS=8000  BENCH_PIPELINE=0
#   BENCH_STACK=own|shared BENCH_PORT_BASE=20000 BENCH_STACK_DIR=.bench/stack
#   BENCH_OUT=.bench/<timestamp>  BENCH_PUBLISH=1 (rewrite BENCHMARKS.md, copy charts to docs/bench/)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

JOURNEYS=${BENCH_JOURNEYS:-${BENCH_BUYERS:-20000}}
SEATS=${BENCH_SEATS:-20000}
CONC=${BENCH_CONCURRENCY:-200}
ACCOUNTS=${BENCH_ACCOUNTS:-400}
DUR=${BENCH_DURATION:-25s}
ABANDON=${BENCH_ABANDON:-0.05}
DECLINE=${BENCH_DECLINE:-0.02}
RETRIES=${BENCH_RETRIES:-2}
HOT_SEATS=${BENCH_HOT_SEATS:-200}
HOT_MAX=${BENCH_HOT_MAX_SEATS:-4}
SEATMAP_TTL=${BENCH_SEAT_MAP_TTL:-1s}
WARMUP=${BENCH_WARMUP:-8s}
BROKER_WARMUP=${BENCH_BROKER_WARMUP:-45s}
POLL_EVERY=${BENCH_POLL_EVERY:-0}
RATE=${BENCH_RATE:-0}
GEN_PROFILE=${BENCH_GEN_PROFILE:-}
WAITLIST=${BENCH_WAITLIST:-1}
WL_SEATS=${BENCH_WAITLIST_SEATS:-500}
WL_PEOPLE=${BENCH_WAITLIST_PEOPLE:-1000}
WL_CANCELS=${BENCH_WAITLIST_CANCELS:-400}
WL_RATE=${BENCH_WAITLIST_RATE:-50}
SHAPES=${BENCH_SHAPES:-disjoint hot}
FOLLOWS=${BENCH_FOLLOWS:-poll stream}
NAIVE=${BENCH_NAIVE:-1}
DEV=${BENCH_DEV:-1}
SPLIT=${BENCH_SPLIT:-1}
# One `evently work` process with every kind (one), or one per kind with two
# booking workers (per-kind; the chaos runs kill one of two booking workers).
WORKERS=${BENCH_WORKERS:-one}
[ "${BENCH_CHAOS:-0}" = 1 ] && WORKERS=${BENCH_WORKERS:-per-kind}
case $WORKERS in one|per-kind) ;; *) echo "bench: BENCH_WORKERS must be one or per-kind" >&2; exit 2 ;; esac
CHAOS=${BENCH_CHAOS:-0}
MIXED=${BENCH_MIXED:-}
MIXED_EVENTS=${BENCH_MIXED_EVENTS:-24}
MIXED_SEATS=${BENCH_MIXED_SEATS:-2000}
HOLDS_RATE=${BENCH_HOLDS_RATE:-0}
PIPELINE=${BENCH_PIPELINE:-0}
CHAOS_BUYERS=${BENCH_CHAOS_BUYERS:-2400}
HOLDS_BUYERS=${BENCH_HOLDS_BUYERS:-8000}
STACK_MODE=${BENCH_STACK:-own}
PORT_BASE=${BENCH_PORT_BASE:-20000}
PUBLISH=${BENCH_PUBLISH:-1}
OUT=${BENCH_OUT:-.bench/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT/pids" "$OUT/logs"
OUT=$(cd "$OUT" && pwd -P)
# Evently's processes run with one P (GOMAXPROCS=1) on this small machine:
# each uses well under a core, and with two Ps the Go scheduler spins
# looking for work on the core that PostgreSQL, Redis, Kafka and the other
# processes need: about 11 % of Evently's own CPU per booking, measured. The
# naive server keeps the runtime's default, which measured better for it
# (one P: 258 instead of 305 bookings/s on disjoint seats; it holds row
# locks across its charge, and one P lengthens them). paysim and the
# generator serve both sides alike and keep the default. Empty: default.
EVENTLY_GOMAXPROCS=${BENCH_EVENTLY_GOMAXPROCS-1}
evently_procenv=(env)
[ -n "$EVENTLY_GOMAXPROCS" ] && evently_procenv+=("GOMAXPROCS=$EVENTLY_GOMAXPROCS")

[[ $PORT_BASE =~ ^[0-9]+$ ]] && [ "$PORT_BASE" -ge 1024 ] && [ "$PORT_BASE" -le 55000 ] ||
  { echo "bench: BENCH_PORT_BASE must be a number from 1024 to 55000" >&2; exit 2; }
API_ADDR=127.0.0.1:$((PORT_BASE + 8080))
NAIVE_ADDR=127.0.0.1:$((PORT_BASE + 8180))
PAYSIM_ADDR=127.0.0.1:$((PORT_BASE + 8090))
WORKER_PORT0=$((PORT_BASE + 8180)) # workers listen on +1, +2, …

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $(date -u +%T) $*" >&2; }

for b in evently evently-bench evently-naive paysim; do
  [ -x "bin/$b" ] || die "bin/$b is missing: run make build (cmd/$b must exist and build)"
done

# --- the stack ---------------------------------------------------------------
STACK_DIR=$ROOT/.stack
if [ "$STACK_MODE" = own ]; then
  export EVENTLY_STACK_DIR=${BENCH_STACK_DIR:-$ROOT/.bench/stack} EVENTLY_PG_PORT=$((PORT_BASE + 5432)) \
    EVENTLY_REDIS_PORT=$((PORT_BASE + 6379)) EVENTLY_KAFKA_PORT=$((PORT_BASE + 9092)) \
    EVENTLY_KAFKA_CONTROLLER_PORT=$((PORT_BASE + 9093)) EVENTLY_PG_FAST=${EVENTLY_PG_FAST:-}
  STACK_DIR=$EVENTLY_STACK_DIR
  log "starting the bench's own stack under $STACK_DIR (PostgreSQL $EVENTLY_PG_PORT, Redis $EVENTLY_REDIS_PORT, Kafka $EVENTLY_KAFKA_PORT)"
  bash deploy/stack.sh up >&2
  eval "$(bash deploy/stack.sh env)"
elif [ -z "${DATABASE_URL:-}" ]; then
  eval "$(bash deploy/stack.sh env)"
fi
ADMIN_URL=$DATABASE_URL
# CPU accounting: the per-process breakdown counts this script's process
# tree (servers, simulator, generator) and the stack's daemons.
CPU_ROOTS="$$,$STACK_DIR/pg/data/postmaster.pid,$STACK_DIR/redis/redis.pid,$STACK_DIR/kafka/kafka.pid"

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
# The supervisor's pid is appended to the array named by $GROUP.
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
  group+=($!)
}

# stop_group: ends the processes started since the last group=().
stop_group() {
  for p in "${group[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${group[@]}"; do wait "$p" 2>/dev/null || true; done
  group=()
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

# The load shape, the same for both sides.
COMMON=(-buyers "$JOURNEYS" -concurrency "$CONC" -accounts "$ACCOUNTS" -duration "$DUR" -abandon "$ABANDON"
  -decline "$DECLINE" -retries "$RETRIES" -seed 42 -drain -follow-timeout 60s -settle-wait 90s -seat-map-ttl "$SEATMAP_TTL" -poll-every "$POLL_EVERY"
  -cpu-pidfiles "$CPU_ROOTS" -rate "$RATE")
shape_flags() { # SHAPE
  case $1 in
    disjoint) echo -strategy disjoint -max-seats 1 ;;
    hot) echo -strategy front -front-seats "$HOT_SEATS" -max-seats "$HOT_MAX" ;;
    *) die "unknown shape $1 (want disjoint or hot)" ;;
  esac
}
# disjoint needs a seat per journey.
for sh in $SHAPES; do
  if [ "$sh" = disjoint ] && [ "$SEATS" -lt "$JOURNEYS" ]; then
    die "the disjoint shape needs BENCH_SEATS ($SEATS) ≥ BENCH_JOURNEYS ($JOURNEYS)"
  fi
done

status=0
runs=()
# one_run NAME DB PAYSIM SHAPE FLAGS...: a fresh event, the run, its audit.
one_run() {
  local name=$1 db=$2 paysim=$3 shape=$4; shift 4
  bench setup -db "$db" -users "$ACCOUNTS" -seats "$SEATS" -out "$OUT/setup-$name.json" >/dev/null 2>>"$OUT/logs/setup.log"
  log "run $name"
  # shellcheck disable=SC2046
  measured "$name" -setup "$OUT/setup-$name.json" "${COMMON[@]}" $(shape_flags "$shape") \
    -audit-db "$db" -paysim "$paysim" "$@" ${GEN_PROFILE:+-cpuprofile "$OUT/$name.generator.pprof"}
}

# measured NAME FLAGS...: one measured, audited run; a failure fails the
# suite at its end, and the run is reported either way.
measured() {
  local name=$1; shift
  if ! bench run -name "$name" "$@" -out "$OUT/$name" >/dev/null 2>>"$OUT/logs/runs.log"; then
    status=1
    log "run $name FAILED (see $OUT/logs/runs.log)"
    tail -n 5 "$OUT/logs/runs.log" >&2 || true
  fi
  runs+=("$name")
}

# warm_up NAME DB FLAGS...: an unmeasured run of WARMUP on its own event
# before a side's measured runs, the same for both sides, so neither is
# measured cold (the JVM under Kafka compiles its hot paths in the first
# seconds of load; PostgreSQL fills its caches).
warm_up() {
  local name=$1 db=$2; shift 2
  [ "$WARMUP" = 0 ] && return 0
  bench setup -db "$db" -users "$ACCOUNTS" -seats "$SEATS" -out "$OUT/setup-$name-warmup.json" >/dev/null 2>>"$OUT/logs/setup.log"
  log "warm-up $name ($WARMUP, not measured)"
  # shellcheck disable=SC2046
  bench run -name "$name-warmup" -setup "$OUT/setup-$name-warmup.json" "${COMMON[@]}" -duration "$WARMUP" $(shape_flags disjoint) \
    -quiet "$@" >/dev/null 2>>"$OUT/logs/runs.log" || log "warm-up $name failed (see $OUT/logs/runs.log)"
}

# --- 0. a warm broker ----------------------------------------------------------
# A fresh Kafka JVM spends its first minutes compiling its hot paths (the C2
# compiler thread alone took about a quarter of a core through the first
# Evently runs), which no long-running broker does. The booking pipeline
# alone (no HTTP, no naive server running) warms it before anything is
# measured.
if [ "$BROKER_WARMUP" != 0 ]; then
  log "broker warm-up: the booking pipeline alone for $BROKER_WARMUP (not measured)"
  bench pipeline -db "$ADMIN_URL" -rates 1000 -batch-sizes 200 -seats 60000 -duration "$BROKER_WARMUP" \
    >/dev/null 2>>"$OUT/logs/setup.log" || log "broker warm-up failed (see $OUT/logs/setup.log)"
fi

# --- 1. the naive baseline -----------------------------------------------------
group=()
if [ "$NAIVE" = 1 ]; then
  log "naive: database"
  NAIVE_URL=$(bench setup -db "$ADMIN_URL" -recreate evently_bench_naive -users 1 -seats 1 -out "$OUT/setup-naive-db.json" 2>>"$OUT/logs/setup.log")
  echo "PAYSIM_ADDR=$PAYSIM_ADDR bin/paysim" >>"$CMDS"
  supervise naive-paysim env PAYSIM_ADDR="$PAYSIM_ADDR" bin/paysim
  echo "bin/evently-naive -addr $NAIVE_ADDR -db <bench database evently_bench_naive> -conns 20 -paysim http://$PAYSIM_ADDR" >>"$CMDS"
  supervise naive bin/evently-naive -addr "$NAIVE_ADDR" -db "$NAIVE_URL" -conns 20 -paysim "http://$PAYSIM_ADDR"
  wait_http "http://$PAYSIM_ADDR/healthz" paysim
  wait_http "http://$NAIVE_ADDR/healthz" evently-naive
  warm_up naive "$NAIVE_URL" -api naive -target "http://$NAIVE_ADDR" -follow poll
  for sh in $SHAPES; do
    one_run "naive-$sh" "$NAIVE_URL" "http://$PAYSIM_ADDR" "$sh" -api naive -target "http://$NAIVE_ADDR" -follow poll
  done
  stop_group
fi

# --- 2. and 3. Evently -----------------------------------------------------------
export EVENTLY_HTTP_ADDR=$API_ADDR EVENTLY_PAYMENT_URL=http://$PAYSIM_ADDR PAYSIM_ADDR=$PAYSIM_ADDR
export EVENTLY_WORKER_ADDR=127.0.0.1:$((WORKER_PORT0 + 99))
export EVENTLY_JWT_SECRET=${EVENTLY_JWT_SECRET:-bench-only-secret-0123456789abcdef0123456789}
export EVENTLY_LOG_LEVEL=${EVENTLY_LOG_LEVEL:-warn} EVENTLY_LOG_FORMAT=text
# Rate limits off for the run (0 turns a limit off, app/wire_auth.go): the
# bench's buyers are few IPs and many users; the limits are not under test.
export EVENTLY_RATE_LOGIN=0 EVENTLY_RATE_AUTH=0 EVENTLY_RATE_HOLDS=0 EVENTLY_RATE_BOOKINGS=0 EVENTLY_RATE_READS=0
# Short payment window so unpaid bookings settle within the audit's wait.
export EVENTLY_PAYMENT_WINDOW=${EVENTLY_PAYMENT_WINDOW:-60s}

# evently_env MODE: a fresh database, topic, group and Redis prefix.
evently_env() {
  local mode=$1
  EV_URL=$(bench setup -db "$ADMIN_URL" -recreate "evently_bench_$mode" -users 1 -seats 1 -out "$OUT/setup-$mode-db.json" 2>>"$OUT/logs/setup.log")
  RUN_ID=b$(date +%s)$mode
  export DATABASE_URL=$EV_URL EVENTLY_TOPIC_PREFIX=$RUN_ID. EVENTLY_GROUP_PREFIX=$RUN_ID. EVENTLY_REDIS_PREFIX=$RUN_ID:
  echo "# Evently ($mode) env: rate limits off, EVENTLY_PAYMENT_WINDOW=$EVENTLY_PAYMENT_WINDOW, topic/group/Redis prefix $RUN_ID, EVENTLY_MAX_HOLDS_PER_USER default" >>"$CMDS"
  echo "PAYSIM_ADDR=$PAYSIM_ADDR bin/paysim" >>"$CMDS"
  supervise "$mode-paysim" bin/paysim
}

# waitlist_run NAME: a small event sold out by one-seat buyers; then
# WL_PEOPLE people join its waitlist and follow their notifications stream,
# and WL_CANCELS of the bookings are cancelled at WL_RATE a second:
# cancel_to_offered, from a cancel's answer to the waitlist.offered of its
# seat on the next person's stream.
waitlist_run() {
  local name=$1
  bench setup -db "$EV_URL" -users $((WL_SEATS + WL_PEOPLE)) -seats "$WL_SEATS" -out "$OUT/setup-$name.json" >/dev/null 2>>"$OUT/logs/setup.log"
  log "run $name ($WL_PEOPLE waiting, $WL_CANCELS cancellations at $WL_RATE/s)"
  measured "$name" -setup "$OUT/setup-$name.json" -scenario waitlist -buyers "$WL_SEATS" -concurrency 100 \
    -accounts "$WL_SEATS" -duration 60s -abandon 0 -decline 0 -retries 2 -seed 42 -drain -follow-timeout 60s \
    -settle-wait 60s -seat-map-ttl "$SEATMAP_TTL" -strategy disjoint -max-seats 1 -waitlisters "$WL_PEOPLE" \
    -cancels "$WL_CANCELS" -cancel-rate "$WL_RATE" -cpu-pidfiles "$CPU_ROOTS" -audit-db "$EV_URL" \
    -paysim "http://$PAYSIM_ADDR" -api evently -target "http://$API_ADDR" -follow poll -stack-dir "$STACK_DIR"
}

metrics() { bin/evently-bench server-time -scrape "http://$API_ADDR/metrics" -out "$OUT/$1.prom" 2>/dev/null || true; }

evently_runs() { # MODE
  local mode=$1
  wait_http "http://$PAYSIM_ADDR/healthz" paysim
  wait_http "http://$API_ADDR/readyz" "evently ($mode)"
  sleep 3 # the consumer groups' first join
  warm_up "evently-$mode" "$EV_URL" -api evently -target "http://$API_ADDR" -follow poll
  for fo in $FOLLOWS; do
    for sh in $SHAPES; do
      metrics "$mode-$fo-$sh-0"
      one_run "evently-$mode-$fo-$sh" "$EV_URL" "http://$PAYSIM_ADDR" "$sh" -api evently -target "http://$API_ADDR" \
        -follow "$fo" -stack-dir "$STACK_DIR"
      metrics "$mode-$fo-$sh-1"
    done
  done
  if [ "$mode" = dev ] && [ "$WAITLIST" = 1 ]; then waitlist_run "evently-$mode-waitlist"; fi
}

if [ "$DEV" = 1 ]; then
  group=()
  log "evently dev: one process (API + every worker)"
  evently_env dev
  echo "${EVENTLY_GOMAXPROCS:+GOMAXPROCS=$EVENTLY_GOMAXPROCS }bin/evently dev   # API on $API_ADDR and every worker, one process" >>"$CMDS"
  supervise dev "${evently_procenv[@]}" bin/evently dev
  evently_runs dev
  stop_group
fi

# worker_kinds: every worker kind `evently work` runs by default, comma-separated.
worker_kinds() {
  local k
  k=$(bin/evently work -h 2>&1 | grep -A1 -- '-kinds' | grep -o 'default "[^"]*"' | head -1 | sed 's/default "//; s/"//' || true)
  [ -n "$k" ] || die "cannot list worker kinds from bin/evently work -h"
  echo "$k"
}

killable=()
if [ "$SPLIT" = 1 ] || [ "$CHAOS" = 1 ] || [ "$HOLDS_RATE" != 0 ]; then
  group=()
  log "evently api + work: separate processes"
  evently_env split
  kinds=$(worker_kinds)
  log "evently: worker kinds: $kinds"
  echo "${EVENTLY_GOMAXPROCS:+GOMAXPROCS=$EVENTLY_GOMAXPROCS }bin/evently api   # on $API_ADDR" >>"$CMDS"
  supervise api "${evently_procenv[@]}" bin/evently api
  n=0
  if [ "$WORKERS" = one ]; then
    n=1
    echo "${EVENTLY_GOMAXPROCS:+GOMAXPROCS=$EVENTLY_GOMAXPROCS }bin/evently work -kinds $kinds -addr 127.0.0.1:$((WORKER_PORT0 + n))" >>"$CMDS"
    supervise "work-1" "${evently_procenv[@]}" bin/evently work -kinds "$kinds" -addr "127.0.0.1:$((WORKER_PORT0 + n))"
    killable+=("$OUT/pids/work-1.pid")
  else
    for k in ${kinds//,/ }; do
      copies=1
      [ "$k" = booking ] && copies=2
      for i in $(seq 1 $copies); do
        n=$((n + 1))
        echo "${EVENTLY_GOMAXPROCS:+GOMAXPROCS=$EVENTLY_GOMAXPROCS }bin/evently work -kinds $k -addr 127.0.0.1:$((WORKER_PORT0 + n))" >>"$CMDS"
        supervise "$k-$i" "${evently_procenv[@]}" bin/evently work -kinds "$k" -addr "127.0.0.1:$((WORKER_PORT0 + n))"
        case $k in booking|payment) killable+=("$OUT/pids/$k-$i.pid") ;; esac
      done
    done
  fi
  if [ "$SPLIT" = 1 ]; then
    evently_runs split
  else
    wait_http "http://$API_ADDR/readyz" "evently api"
    sleep 3
  fi
fi

# --- opt-in extras (on the split processes) --------------------------------------
EVRUN=(-api evently -target "http://$API_ADDR" -follow poll -audit-db "${EV_URL:-}" -paysim "http://$PAYSIM_ADDR" -stack-dir "$STACK_DIR")
if [ "$HOLDS_RATE" != 0 ]; then
  bench setup -db "$EV_URL" -users "$HOLDS_BUYERS" -seats "$SEATS" -out "$OUT/setup-holds.json" >/dev/null 2>>"$OUT/logs/setup.log"
  log "evently: holds at $HOLDS_RATE/s"
  metrics holds-0
  bench run -name evently-holds "${EVRUN[@]}" -setup "$OUT/setup-holds.json" -scenario holds -rate "$HOLDS_RATE" \
    -buyers "$HOLDS_BUYERS" -concurrency 1024 -max-seats 1 -seat-map-ttl 5s -duration "$DUR" -seed 7 -quiet \
    -out "$OUT/evently-holds" >/dev/null 2>>"$OUT/logs/runs.log" || status=1
  metrics holds-1
  runs+=(evently-holds)
fi
if [ "$PIPELINE" = 1 ]; then
  log "pipeline: rates"
  bench pipeline -db "$ADMIN_URL" -rates 1000,2000,4000,6000 -batch-sizes 200 -duration 3s -out "$OUT/pipeline-rates.md" >/dev/null || status=1
  log "pipeline: batch sizes"
  bench pipeline -db "$ADMIN_URL" -rates 2000 -batch-sizes 1,10,50,200,500 -duration 2s -out "$OUT/pipeline-batches.md" >/dev/null || status=1
fi
chaos_run() { # NAME FLAGS...
  local name=$1; shift
  bench setup -db "$EV_URL" -users "$CHAOS_BUYERS" -seats "$SEATS" -out "$OUT/setup-$name.json" >/dev/null 2>>"$OUT/logs/setup.log"
  log "chaos: $name"
  bench run -name "$name" "${EVRUN[@]}" -setup "$OUT/setup-$name.json" -buyers "$CHAOS_BUYERS" -concurrency 512 -duration 60s \
    -strategy random -max-seats 2 -abandon "$ABANDON" -decline "$DECLINE" -retries 2 -seed 42 -settle-wait 90s -seat-map-ttl "$SEATMAP_TTL" -quiet \
    "$@" -out "$OUT/$name" >/dev/null 2>>"$OUT/logs/runs.log" || status=1
  runs+=("$name")
}
if [ "$CHAOS" = 1 ]; then
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
[ ${#group[@]} -gt 0 ] && stop_group

# --- opt-in: the mixed scenario with 1, 2, 4 … booking worker processes -------
# Many events of skewed popularity (Zipf, -skew 1.1), so the booking
# partitions carry unequal load; the same closed loop as the on-sale runs.
if [ -n "$MIXED" ]; then
  others=$(worker_kinds | sed 's/booking,//; s/,booking//')
  for nb in $MIXED; do
    group=()
    log "evently api + work, mixed: $nb booking worker process(es)"
    evently_env "mixed$nb"
    supervise api "${evently_procenv[@]}" bin/evently api
    echo "${EVENTLY_GOMAXPROCS:+GOMAXPROCS=$EVENTLY_GOMAXPROCS }bin/evently work -kinds $others -addr 127.0.0.1:$((WORKER_PORT0 + 1))   # mixed, with $nb booking workers" >>"$CMDS"
    supervise "mixed-work" "${evently_procenv[@]}" bin/evently work -kinds "$others" -addr "127.0.0.1:$((WORKER_PORT0 + 1))"
    for i in $(seq 1 "$nb"); do
      echo "${EVENTLY_GOMAXPROCS:+GOMAXPROCS=$EVENTLY_GOMAXPROCS }bin/evently work -kinds booking -addr 127.0.0.1:$((WORKER_PORT0 + 1 + i))" >>"$CMDS"
      supervise "mixed-booking-$i" "${evently_procenv[@]}" bin/evently work -kinds booking -addr "127.0.0.1:$((WORKER_PORT0 + 1 + i))"
    done
    wait_http "http://$PAYSIM_ADDR/healthz" paysim
    wait_http "http://$API_ADDR/readyz" "evently (mixed, $nb booking)"
    sleep 3 # the consumer groups' first join
    name="evently-mixed-booking$nb"
    bench setup -db "$EV_URL" -users "$ACCOUNTS" -events "$MIXED_EVENTS" -seats "$MIXED_SEATS" -out "$OUT/setup-$name.json" >/dev/null 2>>"$OUT/logs/setup.log"
    log "run $name"
    metrics "$name-0"
    measured "$name" -setup "$OUT/setup-$name.json" "${COMMON[@]}" -scenario mixed -skew 1.1 -strategy random -max-seats 2 \
      -audit-db "$EV_URL" -paysim "http://$PAYSIM_ADDR" -api evently -target "http://$API_ADDR" -follow poll -stack-dir "$STACK_DIR"
    metrics "$name-1"
    stop_group
  done
fi

# --- 4. the report --------------------------------------------------------------
SECTION=$OUT/section.md
[ "$PUBLISH" = 1 ] && mkdir -p docs/bench
mode_name() {
  case $1 in
    dev) echo "\`evently dev\` (API and every worker in one process)" ;;
    split) echo "\`evently api\` + \`evently work\` processes" ;;
  esac
}
shape_name() {
  case $1 in
    disjoint) echo "disjoint (every journey its own seat, 1 seat each)" ;;
    hot) echo "hot (fight over the best $HOT_SEATS seats, 1–$HOT_MAX each)" ;;
  esac
}
{
  echo "## On-sale suite (\`make bench\`)"
  echo
  echo "Generated by \`deploy/bench.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') at commit \`$(git rev-parse --short HEAD 2>/dev/null || echo unknown)\`."
  echo
  echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/^Mem:/{print $2}') GiB memory, $(go version | cut -d' ' -f3-), $(uname -sr)." \
    "PostgreSQL, Redis and Kafka ($STACK_MODE stack) run on the same machine as the servers and the load generator, so every figure includes their competition for the CPUs."
  echo
  echo "Load: $CONC closed-loop buyers over $ACCOUNTS accounts, up to $JOURNEYS journeys or $DUR per run, $SEATS seats per event (a fresh event per run), abandon $ABANDON, decline $DECLINE, $RETRIES retries after a 409, seat map shared for $SEATMAP_TTL."
  echo "Each journey: seat map, hold, \`POST /bookings {hold_id, payment:{token}}\` with an Idempotency-Key, then follow until settled."
  echo "The naive server answers the booking final (the charge is made inside its transaction); Evently answers it $(
    [ "$POLL_EVERY" = 0 ] && echo "and the buyer polls 10 ms after the answer, then every max(10 ms, age/4) capped at 250 ms" || echo "and the buyer polls every $POLL_EVERY"
  ) (poll), or streams \`GET /bookings/{id}/events\` (stream); a submit answer that already says confirmed/failed ends the journey with no poll."
  echo
  echo "### Evently vs the conventional baseline"
  echo
  echo "Ratio = Evently ÷ naive: above 1 is more for Evently (better for bookings/s, worse for latency, requests and CPU)."
  echo "*submit → confirmed* runs from the start of \`POST /bookings\` until the buyer saw \`confirmed\`. *HTTP requests per confirmed booking* counts every request the generator sent in the load phase (seat maps, holds, 409s, bookings, polls, streams). *CPU per confirmed booking* is the machine's busy CPU time during the load phase (/proc/stat, every process) ÷ confirmed bookings; the *of which* rows are this suite's processes by command name (/proc/[pid]/stat)."
  echo
  for mode in dev split; do
    for fo in $FOLLOWS; do
      for sh in $SHAPES; do
        cand=evently-$mode-$fo-$sh
        [ -f "$OUT/$cand.json" ] || continue
        echo "#### $(mode_name $mode), follow by $fo, $(shape_name "$sh")"
        echo
        if [ -f "$OUT/naive-$sh.json" ]; then
          bin/evently-bench compare -base "$OUT/naive-$sh.json" -cand "$OUT/$cand.json" 2>&1
        else
          echo "(no naive run of this shape)"
        fi
        echo
      done
    done
  done
  for mode in dev split; do
    for fo in $FOLLOWS; do
      for sh in $SHAPES; do
        if [ -f "$OUT/$mode-$fo-$sh-1.prom" ] && [ -f "$OUT/$mode-$fo-$sh-0.prom" ]; then
          [ -n "${st_head:-}" ] || { echo "### Server-side latency"; echo; echo "Evently's own histogram (\`evently_http_request_seconds\`, bucket upper bounds) between /metrics snapshots around each run."; echo; st_head=1; }
          echo "evently-$mode-$fo-$sh:"; echo
          bin/evently-bench server-time -before "$OUT/$mode-$fo-$sh-0.prom" -after "$OUT/$mode-$fo-$sh-1.prom" 2>/dev/null || echo "(unavailable)"
          echo
        fi
      done
    done
  done
  if [ -f "$OUT/pipeline-rates.md" ]; then
    echo "### Hot event: the booking pipeline alone"
    echo
    echo "\`evently-bench pipeline\` offers book commands for one 20,000-seat event (one partition) straight to Kafka at a fixed rate; the production booking worker commits them; latency runs from the offer until the committed status reaches the Redis status feed. No HTTP front end and no load generator compete for the cores here."
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
      cat "$OUT/$r.md"
      chart=$OUT/$r.svg
      if [ "$PUBLISH" = 1 ]; then cp "$OUT/$r.svg" "docs/bench/$r.svg"; chart=docs/bench/$r.svg; fi
      echo
      echo "![$r]($chart)"
      echo
    else
      echo "#### $r"; echo; echo "No result: see \`$OUT/logs\`."; echo
    fi
  done
  echo "### Commands"
  echo
  echo '```sh'
  echo "make bench   # = bash deploy/bench.sh with: BENCH_JOURNEYS=$JOURNEYS BENCH_SEATS=$SEATS BENCH_CONCURRENCY=$CONC BENCH_ACCOUNTS=$ACCOUNTS BENCH_DURATION=$DUR BENCH_STACK=$STACK_MODE BENCH_PORT_BASE=$PORT_BASE"
  sed -e "s#$OUT#\$OUT#g" -e "s#$STACK_DIR#\$STACK#g" -e 's#postgres://[^ ]*#<db>#g' "$CMDS"
  echo '```'
} >"$SECTION"
if [ "$PUBLISH" = 1 ]; then
  bin/evently-bench publish -file BENCHMARKS.md -section "$SECTION"
  log "BENCHMARKS.md updated (results in $OUT)"
fi
[ $status = 0 ] || die "a run or its audit failed; see above and $OUT"
log "done: results in $OUT"
