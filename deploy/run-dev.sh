#!/usr/bin/env bash
# Runs Evently for a developer (make run): the API and every worker in one
# process, plus the payment gateway simulator when it is built. Ctrl-C stops
# all of them; the stack keeps running (make stack-stop stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
api=${EVENTLY_HTTP_ADDR:-127.0.0.1:8080}
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait' EXIT INT TERM
if [ -x bin/paysim ]; then
  bin/paysim & pids+=($!)
fi
# Webhooks may reach receivers on this machine (a local test server);
# production's default refuses loopback and private addresses.
export EVENTLY_WEBHOOK_ALLOW_PRIVATE=${EVENTLY_WEBHOOK_ALLOW_PRIVATE:-true}
EVENTLY_LOG_FORMAT=${EVENTLY_LOG_FORMAT:-text} bin/evently dev & pids+=($!)
for _ in $(seq 1 100); do
  curl -fsS "http://$api/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
cat <<MSG

  Evently is running.
    Web app      http://$api/   (sign in as alice@evently.test / evently-user-demo)
    API          http://$api/api/v1
    Ready        http://$api/readyz
    Metrics      http://$api/metrics
    Contract     http://$api/openapi.yaml   (rendered at http://$api/docs)
    Worker probe http://${EVENTLY_WORKER_ADDR:-127.0.0.1:8081}/metrics (only with evently work)
  Demo accounts are listed above by evently seed. Ctrl-C stops Evently; make stack-stop stops the servers.

MSG
wait -n "${pids[@]}"
