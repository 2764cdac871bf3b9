#!/usr/bin/env bash
# deploy/kafka-node.sh DIR PORT CONTROLLER_PORT
#
# Runs ONE Apache Kafka 3.9 node (KRaft, combined broker+controller; by
# default node.id 1 in a static single-voter quorum, or one node of a
# cluster, see EVENTLY_KAFKA_NODE_ID below) in the FOREGROUND, listening on
# 127.0.0.1 only:
#   PLAINTEXT (clients)   127.0.0.1:PORT
#   CONTROLLER (raft)     127.0.0.1:CONTROLLER_PORT
# All of its state lives in DIR (created if missing):
#   DIR/server.properties   rewritten on every start
#   DIR/cluster.id          generated once, reused
#   DIR/data/               the log dir (formatted once with StorageTool)
#
# The script ends with `exec java ...`, so the pid of this script IS the
# broker's pid: SIGTERM gives a clean shutdown, SIGKILL kills it at once.
# deploy/stack.sh starts the dev stack's broker with it; Go tests start extra,
# throwaway brokers with it (e.g. `deploy/kafka-node.sh /tmp/x 29092 29093` as
# a subprocess, then kill it). The broker is ready when its output contains
#   "Kafka Server started"
# (logged by kafka.server.KafkaRaftServer; see deploy/kafka/log4j.properties).
# Output goes to stdout/stderr: redirect it where you want it.
#
# The jars come from `deploy/stack.sh kafka-libs` (downloaded once with Maven
# into a cache, see that script). Java 17 must be installed (stack.sh installs
# it when it is missing).
#
# Environment (all optional):
#   EVENTLY_KAFKA_HEAP       max heap, default 512m
#   EVENTLY_KAFKA_JAVA_OPTS  extra JVM options (word-split)
#   EVENTLY_KAFKA_PROPS      extra server.properties lines (newline separated);
#                            appended last, so they override the defaults below
#   EVENTLY_KAFKA_LIBS       jar folder (default: what stack.sh kafka-libs says)
#
# A cluster (deploy/stack.sh up --cluster, evtest.StartCluster): every node
# gets the same voters and cluster id, and its own node id, folder and ports.
#   EVENTLY_KAFKA_NODE_ID      this node's id, default 1
#   EVENTLY_KAFKA_VOTERS       the static quorum, id@host:controller_port,...
#                              default 1@127.0.0.1:CONTROLLER_PORT
#   EVENTLY_KAFKA_CLUSTER_ID   the cluster id (22 characters of base64url),
#                              used when DIR has none yet; default: a new one
#   EVENTLY_KAFKA_REPLICATION  replication factor of the internal topics and
#                              of topics created without one, default 1; at 3
#                              or more, min.insync.replicas=2 (else 1)
set -euo pipefail

usage() {
  echo "usage: $0 DIR PORT CONTROLLER_PORT" >&2
  exit 2
}
[ $# -eq 3 ] || usage
dir=$1 port=$2 cport=$3
[[ $port =~ ^[0-9]+$ && $cport =~ ^[0-9]+$ ]] || usage
[ "$port" != "$cport" ] || { echo "kafka-node: PORT and CONTROLLER_PORT must differ" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
mkdir -p "$dir/data"
dir=$(cd "$dir" && pwd -P)

# Jars (and java itself, installed by stack.sh if missing). stack.sh prints
# only the folder on stdout; its progress messages go to stderr.
libs=$("$here/stack.sh" kafka-libs)
if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
  java=$JAVA_HOME/bin/java
else
  java=$(command -v java) || { echo "kafka-node: java not found" >&2; exit 1; }
fi
log4j="-Dlog4j.configuration=file:$here/kafka/log4j.properties"

node_id=${EVENTLY_KAFKA_NODE_ID:-1}
voters=${EVENTLY_KAFKA_VOTERS:-$node_id@127.0.0.1:$cport}
rf=${EVENTLY_KAFKA_REPLICATION:-1}
[[ $node_id =~ ^[0-9]+$ && $rf =~ ^[1-9][0-9]*$ ]] ||
  { echo "kafka-node: EVENTLY_KAFKA_NODE_ID and EVENTLY_KAFKA_REPLICATION must be numbers" >&2; exit 2; }
# Two of three replicas must have a write before acks=all returns, so one
# broker may die without losing an acknowledged message or stopping writes.
min_isr=1
[ "$rf" -lt 3 ] || min_isr=2

# server.properties: written to a temp file then renamed, so a reader never
# sees half of it.
cat >"$dir/server.properties.tmp" <<EOF
# Written by deploy/kafka-node.sh on every start; edits here are lost.
process.roles=broker,controller
node.id=$node_id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=6
auto.create.topics.enable=false
delete.topic.enable=true
log.retention.hours=24
# Internal topics replicated like the others (1 on a single node), and few
# partitions so that a consumer group's first join is quick.
default.replication.factor=$rf
min.insync.replicas=$min_isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$min_isr
transaction.state.log.num.partitions=6
# Tests: no delay before the first rebalance, short sessions allowed.
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
# After a SIGKILL the restarted node must wait for its old registration's
# session to expire before it is unfenced: 9 s by default (a restart took
# ~14 s), ~4.5 s with these.
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
# The log cleaner allocates this buffer up front (default 128 MB): keep it
# small so a 512 MB heap is plenty.
log.cleaner.dedupe.buffer.size=16777216
EOF
if [ -n "${EVENTLY_KAFKA_PROPS:-}" ]; then
  printf '# From EVENTLY_KAFKA_PROPS\n%s\n' "$EVENTLY_KAFKA_PROPS" >>"$dir/server.properties.tmp"
fi
mv -f "$dir/server.properties.tmp" "$dir/server.properties"

# Cluster id: 16 random bytes in unpadded base64url (22 characters), which is
# what `kafka.tools.StorageTool random-uuid` prints; made here to save a JVM
# start (~1 s). Like Kafka's Uuid.randomUuid, never start with '-'.
if [ ! -s "$dir/cluster.id" ] && [ -n "${EVENTLY_KAFKA_CLUSTER_ID:-}" ]; then
  printf '%s\n' "$EVENTLY_KAFKA_CLUSTER_ID" >"$dir/cluster.id"
fi
if [ ! -s "$dir/cluster.id" ]; then
  while :; do
    cid=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [ "${cid:0:1}" != "-" ] && [ ${#cid} -eq 22 ] && break
  done
  printf '%s\n' "$cid" >"$dir/cluster.id.tmp"
  mv -f "$dir/cluster.id.tmp" "$dir/cluster.id"
fi
cid=$(tr -d '[:space:]' <"$dir/cluster.id")

# Format the log dir once (meta.properties is written by the format).
# --ignore-formatted makes a repeat harmless anyway.
if [ ! -f "$dir/data/meta.properties" ]; then
  "$java" -Xmx256m "$log4j" -cp "$libs/*" kafka.tools.StorageTool format \
    -t "$cid" -c "$dir/server.properties" --ignore-formatted
fi

# G1 with short pauses, as Kafka's own scripts use. -Devently.kafka.dir marks
# the process so that stack.sh can tell its broker from any other java.
# shellcheck disable=SC2086 # EVENTLY_KAFKA_JAVA_OPTS is meant to be split
exec "$java" \
  -Xms128m "-Xmx${EVENTLY_KAFKA_HEAP:-512m}" \
  -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
  -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError \
  -Djava.awt.headless=true \
  "$log4j" "-Dkafka.logs.dir=$dir" "-Devently.kafka.dir=$dir" \
  ${EVENTLY_KAFKA_JAVA_OPTS:-} \
  -cp "$libs/*" kafka.Kafka "$dir/server.properties"
