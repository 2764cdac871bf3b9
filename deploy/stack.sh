#!/usr/bin/env bash
# deploy/stack.sh — the local stack for Evently, without Docker:
# PostgreSQL and Redis from Debian's packages, Apache Kafka 3.9 (KRaft, single
# combined node) from its Maven Central jars. Every service binds 127.0.0.1
# only and keeps all its state under one folder ($EVENTLY_STACK_DIR).
#
# Usage: deploy/stack.sh COMMAND
#   up [--cluster]
#               start whatever is not running (installing what is missing:
#               apt packages, Kafka jars), wait until each service really
#               answers, print one line per service with the time it took.
#               Idempotent: a second call finds everything up and returns fast.
#               --cluster (or EVENTLY_KAFKA_NODES=3): Kafka as a cluster of
#               three KRaft nodes (each broker and voter), topics replicated
#               three times with min.insync.replicas=2, so one broker may be
#               killed without losing an acknowledged write. The choice is
#               remembered in the state folder: later commands (`env`,
#               `status`, `up`) use it until `up` is told otherwise or `clean`.
#               Switching modes needs `down` first.
#   down        stop exactly the processes this stack started (found by the
#               pid files under the state folder): Kafka TERM (KILL after 30 s),
#               Redis TERM, PostgreSQL `pg_ctl stop -m fast`.
#   clean       down, then delete the state folder (all data). The Kafka jar
#               cache (below) is kept, so the next `up` needs no download.
#   status      one line per service; exit 0 if all are up, 1 otherwise.
#   env         print `export` lines for DATABASE_URL, REDIS_URL and
#               KAFKA_BROKERS:   eval "$(deploy/stack.sh env)"
#               (cluster: every broker, and EVENTLY_REPLICATION=3)
#   kafka-libs  make sure the Kafka jars are present; print their folder
#               (deploy/kafka-node.sh and Go tests use it to start brokers).
#
# Environment (all optional):
#   EVENTLY_STACK_DIR     state folder; default <repo root>/.stack (made absolute)
#   EVENTLY_PG_PORT       PostgreSQL port,        default 15432
#   EVENTLY_REDIS_PORT    Redis port,             default 16379
#   EVENTLY_KAFKA_PORT    Kafka client port,      default 19092
#   EVENTLY_KAFKA_CONTROLLER_PORT  KRaft port,    default 19093
#   EVENTLY_KAFKA_NODES   1 (default) or 3 (the cluster, as `up --cluster`).
#                         Node N of the cluster listens on the ports above
#                         plus 2*(N-1): 19092/19093, 19094/19095, 19096/19097.
#   EVENTLY_PG_FAST=1     start PostgreSQL with fsync=off, synchronous_commit=off,
#                         full_page_writes=off (tests/CI: faster, NOT crash safe).
#                         Read when PostgreSQL starts: `down` then `up` to change.
#   EVENTLY_KAFKA_HEAP    Kafka max heap, default 512m (see deploy/kafka-node.sh)
#   EVENTLY_KAFKA_LIBS    Kafka jar folder; default
#                         ${XDG_CACHE_HOME:-$HOME/.cache}/evently/kafka-libs/<pom hash>
#
# Resulting URLs (`env`):
#   DATABASE_URL=postgres://evently:evently@127.0.0.1:15432/evently?sslmode=disable
#                (role evently is SUPERUSER: tests create a database per test)
#   REDIS_URL=redis://127.0.0.1:16379/0
#   KAFKA_BROKERS=127.0.0.1:19092
#                (cluster: 127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096)
#
# State folder layout:
#   pg/data  pg/postgres.log          (owned by user postgres when run as root)
#   redis/redis.pid  redis/redis.log
#   kafka/kafka.pid  kafka/kafka.log  kafka/data  kafka/server.properties
#   kafka-1/ kafka-2/ kafka-3/ (cluster: the same, per node)
#   kafka.nodes  kafka-cluster.id     (the mode last started; the cluster's id)
#
# Runs unattended (CI=true, no stdin): apt-get -y, mvn -B, never prompts.
# Runs as root (PostgreSQL itself then runs as user postgres) or as a normal
# user (then packages must already be installed, or sudo -n must work).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
DEPLOY=$ROOT/deploy

PG_PORT=${EVENTLY_PG_PORT:-15432}
REDIS_PORT=${EVENTLY_REDIS_PORT:-16379}
KAFKA_PORT=${EVENTLY_KAFKA_PORT:-19092}
KAFKA_CPORT=${EVENTLY_KAFKA_CONTROLLER_PORT:-19093}

STATE=${EVENTLY_STACK_DIR:-$ROOT/.stack}
case $STATE in /*) ;; *) STATE=$PWD/$STATE ;; esac
STATE=${STATE%/}

# Derived paths. The state folder is resolved to its physical path once it
# exists (kafka-node.sh does the same, and its java command line is matched
# against KAFKA_DIR).
set_paths() {
  if [ -d "$STATE" ]; then STATE=$(cd "$STATE" && pwd -P); fi
  PG_DIR=$STATE/pg
  PGDATA=$PG_DIR/data
  PG_LOG=$PG_DIR/postgres.log
  REDIS_DIR=$STATE/redis
  REDIS_PID=$REDIS_DIR/redis.pid
  REDIS_LOG=$REDIS_DIR/redis.log
  kafka_node "${KAFKA_NODE:-0}"
}

# kafka_node N: point KAFKA_DIR, KAFKA_PID, KAFKA_LOG, KAFKA_PORT and
# KAFKA_CPORT at node N of the cluster, or at the single node for N=0.
kafka_node() {
  KAFKA_NODE=$1
  if [ "$1" = 0 ]; then
    KAFKA_DIR=$STATE/kafka
    KAFKA_PORT=$KAFKA_PORT0 KAFKA_CPORT=$KAFKA_CPORT0
  else
    KAFKA_DIR=$STATE/kafka-$1
    KAFKA_PORT=$((KAFKA_PORT0 + 2 * ($1 - 1))) KAFKA_CPORT=$((KAFKA_CPORT0 + 2 * ($1 - 1)))
  fi
  KAFKA_PID=$KAFKA_DIR/kafka.pid
  KAFKA_LOG=$KAFKA_DIR/kafka.log
}
KAFKA_PORT0=$KAFKA_PORT KAFKA_CPORT0=$KAFKA_CPORT
set_paths

# The Kafka mode: 1 node or a cluster of 3. `up --cluster` or
# EVENTLY_KAFKA_NODES choose it; otherwise the mode `up` last started.
kafka_mode() {
  local n=${EVENTLY_KAFKA_NODES:-}
  if [ "${CLUSTER_FLAG:-0}" = 1 ]; then n=3; fi
  if [ -z "$n" ] && [ -s "$STATE/kafka.nodes" ]; then n=$(tr -d '[:space:]' <"$STATE/kafka.nodes"); fi
  case ${n:-1} in
    1) KAFKA_NODES=1 ;;
    3) KAFKA_NODES=3 ;;
    *) die "EVENTLY_KAFKA_NODES must be 1 or 3, not '$n'" ;;
  esac
}
# kafka_nodes: the node numbers of the mode (0 is the single node).
kafka_nodes() { if [ "$KAFKA_NODES" = 1 ]; then echo 0; else seq 1 "$KAFKA_NODES"; fi; }
# The cluster's voters, id@127.0.0.1:controller_port,...
kafka_voters() {
  local i v=
  for i in $(seq 1 "$KAFKA_NODES"); do v+="${v:+,}$i@127.0.0.1:$((KAFKA_CPORT0 + 2 * (i - 1)))"; done
  echo "$v"
}
kafka_brokers() {
  local i b=
  for i in $(kafka_nodes); do kafka_node "$i"; b+="${b:+,}127.0.0.1:$KAFKA_PORT"; done
  echo "$b"
}
KAFKA_READY_MSG="Kafka Server started"
KAFKA_WAIT_S=90

# ---------------------------------------------------------------- helpers --

die() {
  printf 'stack: %s\n' "$*" >&2
  exit 1
}
note() { printf 'stack: %s\n' "$*" >&2; }

# Milliseconds since the epoch, from bash's own clock (no fork).
now_ms() {
  local t=${EPOCHREALTIME//[!0-9]/}
  echo $((t / 1000))
}
# since_ms START_MS -> "1.234s"
since() {
  local d=$(($(now_ms) - $1))
  printf '%d.%03ds' $((d / 1000)) $((d % 1000))
}

is_root() { [ "$(id -u)" -eq 0 ]; }

APT_UPDATED=0
apt_install() {
  local sudo=()
  if ! is_root; then
    if ! command -v sudo >/dev/null || ! sudo -n true 2>/dev/null; then
      die "need root to install: apt-get install $* (run as root or install it yourself)"
    fi
    sudo=(sudo -n)
  fi
  note "installing $* (apt)"
  if [ "$APT_UPDATED" = 0 ]; then
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq \
      -o DPkg::Lock::Timeout=300 update >&2 || die "apt-get update failed"
    APT_UPDATED=1
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -qq \
    -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef \
    -o Dpkg::Options::=--force-confold --no-install-recommends install "$@" \
    </dev/null >&2 || die "apt-get install $* failed"
}

# pid_is PID PATTERN: PID is a live (non-zombie) process whose command line
# contains PATTERN. Guards against a stale pid file naming a reused pid.
pid_is() {
  local pid=$1 pat=$2 cmd
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *"$pat"* ]]
}

read_pid() { [ -s "$1" ] && head -n1 "$1" | tr -d '[:space:]'; }

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_gone PID SECONDS: 0 once PID has exited, 1 if it is still there.
wait_gone() {
  local pid=$1 deadline=$(($(now_ms) + $2 * 1000))
  while kill -0 "$pid" 2>/dev/null && [ -e "/proc/$pid/cmdline" ] &&
    [ -n "$(tr -d '\0' <"/proc/$pid/cmdline" 2>/dev/null)" ]; do
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# log_fail SERVICE LOGFILE MESSAGE: one clear line, the log's tail, exit 1.
log_fail() {
  printf 'stack: %s: %s (log: %s)\n' "$1" "$3" "$2" >&2
  if [ -f "$2" ]; then
    echo "----- last lines of $2 -----" >&2
    tail -n 25 "$2" >&2 || true
    echo "-----" >&2
  fi
  exit 1
}

# Refuse to start on a port that someone else already uses.
port_free_or_die() { # SERVICE PORT VAR
  if port_open "$2"; then
    die "$1: 127.0.0.1:$2 is already in use by a process this stack did not start (set $3 to use another port)"
  fi
}

# -------------------------------------------------------------- PostgreSQL --

PG_BIN=
pg_find_bin() {
  local d best=
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/pg_ctl" ] || continue
    if [ -z "$best" ] || [ "$(basename "$(dirname "$d")")" -gt "$(basename "$(dirname "$best")")" ] 2>/dev/null; then
      best=$d
    fi
  done
  PG_BIN=$best
}
pg_ensure_installed() {
  pg_find_bin
  if [ -z "$PG_BIN" ]; then
    # Debian's package also creates and may start a "main" cluster on 5432:
    # harmless, this stack does not use it.
    apt_install postgresql
    pg_find_bin
    [ -n "$PG_BIN" ] || die "postgres: no server found under /usr/lib/postgresql after installing"
  fi
}

# Run a PostgreSQL server tool as user postgres (it refuses to run as root),
# from / so that an unreadable current directory does not matter.
as_pg() {
  if is_root; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

pg_pid() { read_pid "$PGDATA/postmaster.pid"; }
# The postmaster of OUR data folder (its command line is `postgres -D PGDATA`).
pg_pid_ours() { pid_is "$1" "postgres -D $PGDATA"; }
pg_running() {
  local pid
  pid=$(pg_pid) && pg_pid_ours "$pid" && port_open "$PG_PORT"
}

# psql as the bootstrap superuser over TCP (initdb --auth=trust).
pg_sql() {
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres \
    -d postgres -tA -c "$1"
}

# Root only: give $PG_DIR to postgres and make every folder above it
# traversable (o+x) for that user; the repo may be cloned anywhere.
pg_fix_perms() {
  is_root || return 0
  if [ "$(stat -c %U "$PG_DIR")" != postgres ]; then
    chown -R postgres:postgres "$PG_DIR"
  fi
  if ! runuser -u postgres -- test -x "$PG_DIR"; then
    # Walk down from / and open each folder that postgres cannot enter.
    local d=$PG_DIR ancestors=()
    while [ "$d" != / ]; do
      d=$(dirname "$d")
      ancestors=("$d" "${ancestors[@]}")
    done
    for d in "${ancestors[@]}"; do
      if ! runuser -u postgres -- test -x "$d"; then
        note "postgres: chmod o+x $d (so that user postgres can reach its data folder)"
        chmod o+x "$d"
      fi
    done
  fi
}

pg_start() {
  pg_ensure_installed
  mkdir -p "$PG_DIR"
  pg_fix_perms
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    # initdb into a side folder and rename it at the end, so that an
    # interrupted initdb never leaves a half-made data folder behind.
    local tmp=$PGDATA.init
    rm -rf "$tmp"
    as_pg "$PG_BIN/initdb" -D "$tmp" -U postgres --auth=trust -E UTF8 \
      --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 ||
      log_fail postgres "$PG_DIR/initdb.log" "initdb failed"
    echo "include_if_exists = 'evently.conf'" >>"$tmp/postgresql.conf"
    mv "$tmp" "$PGDATA"
  fi

  # Settings of this stack, rewritten at every start (port, fast mode).
  local sock=$PG_DIR/sock
  mkdir -p "$sock"
  # A Unix socket path is limited to 107 bytes: skip it for a deep state dir
  # (everything here connects over TCP anyway).
  [ ${#sock} -le 90 ] || sock=
  {
    echo "# Written by deploy/stack.sh at every start; edits here are lost."
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $PG_PORT"
    echo "unix_socket_directories = '$sock'"
    echo "max_connections = 300"
    echo "shared_buffers = 256MB"
    if [ "${EVENTLY_PG_FAST:-0}" = 1 ]; then
      echo "# EVENTLY_PG_FAST=1: not crash safe"
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    fi
  } >"$PGDATA/evently.conf"
  touch "$PG_LOG"
  if is_root; then chown -R postgres:postgres "$sock" "$PGDATA/evently.conf" "$PG_LOG"; fi

  # A postmaster.pid naming no live postgres is stale (e.g. after a crash or
  # kill -9). pg_ctl removes such files itself, but not when the pid is a
  # zombie: on machines whose pid 1 does not reap orphans it would refuse to
  # start ("lock file postmaster.pid already exists").
  # Same for the Unix socket's lock file.
  local old f
  if old=$(pg_pid) && ! pg_pid_ours "$old"; then
    rm -f "$PGDATA/postmaster.pid"
  fi
  for f in "$PG_DIR"/sock/.s.PGSQL.*.lock; do
    if [ -f "$f" ] && ! { old=$(read_pid "$f") && pg_pid_ours "$old"; }; then
      rm -f "$f" "${f%.lock}"
    fi
  done

  # 9>&- : the postmaster must not inherit this script's lock. pg_ctl's own
  # complaints are appended to the server log, where they are looked for.
  # shellcheck disable=SC2094
  as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PG_LOG" -w -t 60 start >/dev/null 2>>"$PG_LOG" 9>&- ||
    log_fail postgres "$PG_LOG" "did not start"

  local deadline=$(($(now_ms) + 30000))
  until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres; do
    [ "$(now_ms)" -lt "$deadline" ] || log_fail postgres "$PG_LOG" "not accepting connections after 30 s"
    sleep 0.1
  done
}

# Role and database of the app; cheap, so checked at every `up`.
pg_ensure_db() {
  local r
  r=$(pg_sql "SELECT 1 FROM pg_roles WHERE rolname = 'evently'") ||
    log_fail postgres "$PG_LOG" "cannot query pg_roles"
  if [ "$r" != 1 ]; then
    pg_sql "CREATE ROLE evently LOGIN SUPERUSER CREATEDB PASSWORD 'evently'" >/dev/null ||
      log_fail postgres "$PG_LOG" "cannot create role evently"
  fi
  r=$(pg_sql "SELECT 1 FROM pg_database WHERE datname = 'evently'") ||
    log_fail postgres "$PG_LOG" "cannot query pg_database"
  if [ "$r" != 1 ]; then
    # CREATE DATABASE cannot run inside a transaction: its own -c.
    pg_sql "CREATE DATABASE evently OWNER evently" >/dev/null ||
      log_fail postgres "$PG_LOG" "cannot create database evently"
  fi
}

pg_stop() {
  local pid
  pid=$(pg_pid) || return 0
  if pg_pid_ours "$pid"; then
    pg_find_bin
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null 2>&1 || {
      note "postgres: fast stop failed, trying immediate (log: $PG_LOG)"
      as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    }
    wait_gone "$pid" 10 || die "postgres: pid $pid still running after stop (log: $PG_LOG)"
    return 10 # stopped something
  fi
  rm -f "$PGDATA/postmaster.pid" # stale
}

# ------------------------------------------------------------------- Redis --

redis_ensure_installed() {
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    # Debian's package may also start a system redis on 6379: harmless.
    apt_install redis-server redis-tools
    command -v redis-server >/dev/null || die "redis: redis-server not found after installing"
  fi
}
redis_ping() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }
# redis-server sets its process title to "redis-server 127.0.0.1:PORT".
redis_pid_ours() { pid_is "$1" "redis-server 127.0.0.1:$REDIS_PORT"; }
redis_running() {
  local pid
  pid=$(read_pid "$REDIS_PID") && redis_pid_ours "$pid" && port_open "$REDIS_PORT"
}

redis_start() {
  redis_ensure_installed
  mkdir -p "$REDIS_DIR"
  rm -f "$REDIS_PID"
  # No persistence at all: a dev/test cache. 9>&- : not our lock.
  # shellcheck disable=SC2094 # both only append to the log
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --protected-mode no \
    --dir "$REDIS_DIR" --daemonize yes --pidfile "$REDIS_PID" \
    --logfile "$REDIS_LOG" --save '' --appendonly no </dev/null >/dev/null 2>>"$REDIS_LOG" 9>&- ||
    log_fail redis "$REDIS_LOG" "redis-server did not start"
  local deadline=$(($(now_ms) + 15000))
  until redis_ping; do
    [ "$(now_ms)" -lt "$deadline" ] || log_fail redis "$REDIS_LOG" "no PONG after 15 s"
    sleep 0.05
  done
}

redis_stop() {
  local pid
  pid=$(read_pid "$REDIS_PID") || return 0
  if redis_pid_ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true # redis shuts down cleanly on TERM
    if ! wait_gone "$pid" 10; then
      note "redis: pid $pid ignored TERM for 10 s, killing"
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$pid" 5 || true
    fi
    rm -f "$REDIS_PID"
    return 10
  fi
  rm -f "$REDIS_PID"
}

# ------------------------------------------------------------------- Kafka --

java_bin() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    echo "$JAVA_HOME/bin/java"
  else
    command -v java
  fi
}

# The jar cache is outside the state folder, so `clean` keeps it. It is keyed
# by a hash of deploy/kafka/pom.xml: changing a version there downloads anew.
kafka_libs_dir() {
  if [ -n "${EVENTLY_KAFKA_LIBS:-}" ]; then
    echo "$EVENTLY_KAFKA_LIBS"
    return
  fi
  local cache hash
  if [ -n "${XDG_CACHE_HOME:-}" ]; then
    cache=$XDG_CACHE_HOME
  elif [ -n "${HOME:-}" ] && [ "$HOME" != / ] &&
    { [ -w "$HOME/.cache" ] || mkdir -p "$HOME/.cache" 2>/dev/null; }; then
    cache=$HOME/.cache
  else
    cache=$STATE/cache
  fi
  hash=$(sha256sum "$DEPLOY/kafka/pom.xml" | cut -c1-16)
  echo "$cache/evently/kafka-libs/$hash"
}

# Ensure java, then the jars. Prints the jar folder on stdout, nothing else.
kafka_libs() {
  local libs marker tmp
  libs=$(kafka_libs_dir)
  marker=$libs/.complete
  if [ -z "$(java_bin)" ]; then apt_install openjdk-17-jre-headless; fi
  if [ -f "$marker" ]; then
    echo "$libs"
    return
  fi
  mkdir -p "$(dirname "$libs")"
  # One download at a time (parallel `go test` packages may all ask).
  exec 8>"$libs.lock"
  flock -w 600 8 || die "kafka: timed out waiting for another jar download ($libs.lock)"
  if [ ! -f "$marker" ]; then
    command -v mvn >/dev/null || apt_install maven
    note "kafka: downloading jars with Maven into $libs"
    local t0
    t0=$(now_ms)
    tmp=$libs.tmp.$$
    rm -rf "$tmp"
    mkdir -p "$tmp"
    # The marker is written only after a complete copy, and the folder is
    # renamed into place, so an interrupted download is simply redone.
    # Maven's output goes to a log, shown only on failure (Debian's Maven 3.8
    # prints stray colour codes even with -q).
    mvn -q -B -f "$DEPLOY/kafka/pom.xml" \
      org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
      -DincludeScope=runtime "-DoutputDirectory=$tmp" </dev/null >"$libs.mvn.log" 2>&1 || {
      rm -rf "$tmp"
      log_fail kafka "$libs.mvn.log" "Maven could not fetch the jars listed in deploy/kafka/pom.xml"
    }
    ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 ||
      { rm -rf "$tmp"; die "kafka: Maven ran but no kafka_2.13 jar arrived in $tmp"; }
    ls "$tmp" >"$tmp/.complete"
    rm -rf "$libs"
    mv "$tmp" "$libs"
    note "kafka: $(find "$libs" -name '*.jar' | wc -l) jars in $(since "$t0")"
  fi
  exec 8>&-
  echo "$libs"
}

# Our broker: the java process (marked -Devently.kafka.dir=DIR by
# kafka-node.sh) or, before its exec, kafka-node.sh itself.
kafka_pid_ours() {
  pid_is "$1" "-Devently.kafka.dir=$KAFKA_DIR " || pid_is "$1" "kafka-node.sh $KAFKA_DIR "
}
kafka_running() {
  local pid
  pid=$(read_pid "$KAFKA_PID") && pid_is "$pid" "-Devently.kafka.dir=$KAFKA_DIR " &&
    port_open "$KAFKA_PORT"
}

# Start the broker in the background, in its own session (setsid), so that
# it survives this script and a Ctrl-C in the terminal. kafka-node.sh execs
# java, so $! is the broker's pid.
kafka_launch() {
  local libs=$1
  mkdir -p "$KAFKA_DIR"
  [ -f "$KAFKA_LOG" ] && mv -f "$KAFKA_LOG" "$KAFKA_LOG.1"
  local cluster=()
  if [ "$KAFKA_NODE" != 0 ]; then
    # Every node of the cluster: the same voters and cluster id.
    if [ ! -s "$STATE/kafka-cluster.id" ]; then
      head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' | sed 's/^-/A/' >"$STATE/kafka-cluster.id"
    fi
    cluster=(EVENTLY_KAFKA_NODE_ID="$KAFKA_NODE" EVENTLY_KAFKA_VOTERS="$(kafka_voters)"
      EVENTLY_KAFKA_CLUSTER_ID="$(cat "$STATE/kafka-cluster.id")" EVENTLY_KAFKA_REPLICATION=3)
  fi
  env EVENTLY_KAFKA_LIBS="$libs" "${cluster[@]}" setsid "$DEPLOY/kafka-node.sh" "$KAFKA_DIR" "$KAFKA_PORT" "$KAFKA_CPORT" \
    </dev/null >"$KAFKA_LOG" 2>&1 9>&- &
  echo $! >"$KAFKA_PID"
}

# Ready = the client port accepts connections AND the broker logged that it
# finished starting (an open port alone comes before it serves metadata).
kafka_wait() {
  local pid deadline=$(($(now_ms) + KAFKA_WAIT_S * 1000))
  pid=$(read_pid "$KAFKA_PID")
  while :; do
    if ! kafka_pid_ours "$pid"; then
      log_fail kafka "$KAFKA_LOG" "broker exited while starting"
    fi
    if grep -q "$KAFKA_READY_MSG" "$KAFKA_LOG" 2>/dev/null && port_open "$KAFKA_PORT"; then
      return 0
    fi
    if [ "$(now_ms)" -ge "$deadline" ]; then
      log_fail kafka "$KAFKA_LOG" "not ready after ${KAFKA_WAIT_S} s (left running as pid $pid; 'deploy/stack.sh down' stops it)"
    fi
    sleep 0.2
  done
}

kafka_stop() {
  local pid
  pid=$(read_pid "$KAFKA_PID") || return 0
  if kafka_pid_ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true # controlled shutdown
    if ! wait_gone "$pid" 30; then
      note "kafka: pid $pid still running 30 s after TERM, killing"
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$pid" 5 || true
    fi
    rm -f "$KAFKA_PID"
    return 10
  fi
  rm -f "$KAFKA_PID"
}

# ---------------------------------------------------------------- commands --

# Install every missing package in one apt-get run (fresh machine / CI).
ensure_installed() {
  local pkgs=()
  pg_find_bin
  [ -n "$PG_BIN" ] || pkgs+=(postgresql)
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
    pkgs+=(redis-server redis-tools)
  [ -n "$(java_bin)" ] || pkgs+=(openjdk-17-jre-headless)
  [ -f "$(kafka_libs_dir)/.complete" ] || command -v mvn >/dev/null || pkgs+=(maven)
  if [ ${#pkgs[@]} -gt 0 ]; then apt_install "${pkgs[@]}"; fi
  pg_ensure_installed
  redis_ensure_installed
}

lock_state() {
  mkdir -p "$STATE"
  set_paths
  exec 9>"$STATE/.lock"
  flock -w 300 9 || die "another deploy/stack.sh holds $STATE/.lock"
}

line() { printf '%-9s %s\n' "$1" "$2"; }

# kafka_name: the service name of the current node in messages.
kafka_name() { if [ "$KAFKA_NODE" = 0 ]; then echo kafka; else echo "kafka-$KAFKA_NODE"; fi; }

cmd_up() {
  local t_all t_pg t_redis t_kafka libs i started=() other
  t_all=$(now_ms)
  lock_state
  kafka_mode

  # One mode at a time: the other's nodes would hold the same ports.
  if [ "$KAFKA_NODES" = 1 ]; then other=$(seq 1 3); else other=0; fi
  for i in $other; do
    kafka_node "$i"
    if kafka_running; then
      die "kafka: $(kafka_name) of the other mode is running (pid $(read_pid "$KAFKA_PID")); run 'deploy/stack.sh down' first"
    fi
  done

  # Stale pid files go first, so that checks below see the truth.
  for i in $(kafka_nodes); do
    kafka_node "$i"
    if ! kafka_running; then kafka_stop || true; fi
  done
  if ! redis_running; then redis_stop || true; fi

  # Kafka takes longest to boot: launch it first, start the others while it
  # boots, then wait for it. A cluster's nodes start together (each waits
  # for a quorum of voters).
  ensure_installed
  for i in $(kafka_nodes); do
    kafka_node "$i"
    if ! kafka_running; then
      port_free_or_die "$(kafka_name)" "$KAFKA_PORT" EVENTLY_KAFKA_PORT
      port_free_or_die "$(kafka_name)" "$KAFKA_CPORT" EVENTLY_KAFKA_CONTROLLER_PORT
      [ -n "${libs:-}" ] || libs=$(kafka_libs)
      t_kafka=$(now_ms)
      kafka_launch "$libs"
      started+=("$i")
    fi
  done
  echo "$KAFKA_NODES" >"$STATE/kafka.nodes"

  t_pg=$(now_ms)
  if pg_running; then
    pg_ensure_db
    local want=on
    [ "${EVENTLY_PG_FAST:-0}" != 1 ] || want=off
    if [ "$(pg_sql 'SHOW fsync' 2>/dev/null)" != "$want" ]; then
      note "postgres: running with fsync=$([ $want = on ] && echo off || echo on), EVENTLY_PG_FAST=${EVENTLY_PG_FAST:-0} applies only at start ('down' then 'up')"
    fi
    line postgres "already running (pid $(pg_pid), 127.0.0.1:$PG_PORT)"
  else
    port_free_or_die postgres "$PG_PORT" EVENTLY_PG_PORT
    pg_start
    pg_ensure_db
    line postgres "started in $(since "$t_pg") (pid $(pg_pid), 127.0.0.1:$PG_PORT)"
  fi

  t_redis=$(now_ms)
  if redis_running; then
    line redis "already running (pid $(read_pid "$REDIS_PID"), 127.0.0.1:$REDIS_PORT)"
  else
    port_free_or_die redis "$REDIS_PORT" EVENTLY_REDIS_PORT
    redis_start
    line redis "started in $(since "$t_redis") (pid $(read_pid "$REDIS_PID"), 127.0.0.1:$REDIS_PORT)"
  fi

  for i in $(kafka_nodes); do
    kafka_node "$i"
    if [[ " ${started[*]} " == *" $i "* ]]; then
      kafka_wait
      line "$(kafka_name)" "started in $(since "$t_kafka") (pid $(read_pid "$KAFKA_PID"), 127.0.0.1:$KAFKA_PORT)"
    else
      line "$(kafka_name)" "already running (pid $(read_pid "$KAFKA_PID"), 127.0.0.1:$KAFKA_PORT)"
    fi
  done
  line total "$(since "$t_all")  (state: $STATE)"
}

cmd_down() {
  local t rc
  [ -d "$STATE" ] || { echo "nothing to stop ($STATE does not exist)"; return 0; }
  lock_state
  kafka_mode
  # Every node of either mode that runs; a cluster's nodes stop together
  # (a controlled shutdown needs the quorum until the last one).
  local i pids=() names=() stopped=()
  for i in 0 1 2 3; do
    kafka_node "$i"
    local pid
    if pid=$(read_pid "$KAFKA_PID") && kafka_pid_ours "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid") names+=("$(kafka_name)")
    elif [[ " $(kafka_nodes | tr '\n' ' ') " == *" $i "* ]]; then
      line "$(kafka_name)" "was not running"
    fi
    rm -f "$KAFKA_PID"
  done
  t=$(now_ms)
  for i in "${!pids[@]}"; do
    if ! wait_gone "${pids[$i]}" 30; then
      note "${names[$i]}: pid ${pids[$i]} still running 30 s after TERM, killing"
      kill -KILL "${pids[$i]}" 2>/dev/null || true
      wait_gone "${pids[$i]}" 5 || true
    fi
    line "${names[$i]}" "stopped in $(since "$t")"
  done
  t=$(now_ms)
  rc=0; redis_stop || rc=$?
  if [ "$rc" = 10 ]; then line redis "stopped in $(since "$t")"; else line redis "was not running"; fi
  t=$(now_ms)
  rc=0; pg_stop || rc=$?
  if [ "$rc" = 10 ]; then line postgres "stopped in $(since "$t")"; else line postgres "was not running"; fi
}

cmd_clean() {
  cmd_down
  # Deletes all data, logs and pid files. The Kafka jar cache is NOT in here
  # (see kafka_libs_dir) unless EVENTLY_KAFKA_LIBS or a missing $HOME put it
  # under $STATE/cache, in which case it goes too.
  rm -rf "$STATE"
  echo "removed $STATE (kafka jar cache kept: $(kafka_libs_dir))"
}

cmd_status() {
  local ok=0 pid
  if pg_running; then
    line postgres "up    pid $(pg_pid)  127.0.0.1:$PG_PORT  log $PG_LOG"
  else
    line postgres "down  (log $PG_LOG)"; ok=1
  fi
  if redis_running; then
    line redis "up    pid $(read_pid "$REDIS_PID")  127.0.0.1:$REDIS_PORT  log $REDIS_LOG"
  else
    line redis "down  (log $REDIS_LOG)"; ok=1
  fi
  kafka_mode
  local i
  for i in $(kafka_nodes); do
    kafka_node "$i"
    if kafka_running; then
      pid=$(read_pid "$KAFKA_PID")
      line "$(kafka_name)" "up    pid $pid  127.0.0.1:$KAFKA_PORT (controller $KAFKA_CPORT)  log $KAFKA_LOG"
    else
      line "$(kafka_name)" "down  (log $KAFKA_LOG)"; ok=1
    fi
  done
  return $ok
}

cmd_env() {
  echo "export DATABASE_URL='postgres://evently:evently@127.0.0.1:$PG_PORT/evently?sslmode=disable'"
  echo "export REDIS_URL='redis://127.0.0.1:$REDIS_PORT/0'"
  kafka_mode
  echo "export KAFKA_BROKERS='$(kafka_brokers)'"
  if [ "$KAFKA_NODES" != 1 ]; then echo "export EVENTLY_REPLICATION=3"; fi
}

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
  exit 2
}

case ${1:-} in
  up)
    case ${2:-} in
      --cluster) CLUSTER_FLAG=1 ;;
      "") ;;
      *) usage ;;
    esac
    cmd_up
    ;;
  down) cmd_down ;;
  clean) cmd_clean ;;
  status) cmd_status ;;
  env) cmd_env ;;
  kafka-libs) kafka_libs ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac
