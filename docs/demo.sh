#!/usr/bin/env bash
# Builds the demo the docs' output comes from: two test hosts in network namespaces joined by a veth pair.
#   demo-client (10.77.0.1): a leaky HTTP client (CLOSE_WAIT), a ZooKeeper client stuck in a reconnect loop
#                            (TIME_WAIT), a healthy database pool, and a client whose server vanished (half-open)
#   demo-server (10.77.0.2): the servers
# Usage: docs/demo.sh up | down. Bounded: every process exits by itself after 10 minutes.
set -euo pipefail
S="$(cd "$(dirname "$0")/.." && pwd)/tests/ConnDoctor.Tests/helpers/scenario.py"
PY=/usr/bin/python3
case "${1:-up}" in
down)
  # Only the processes inside the demo's own namespaces (other runs of scenario.py on this host are not ours).
  for n in demo-client demo-server; do ip netns pids $n 2>/dev/null | xargs -r kill 2>/dev/null || true; done
  ip netns del demo-client 2>/dev/null || true
  ip netns del demo-server 2>/dev/null || true
  ;;
up)
  "$0" down
  ip netns add demo-client; ip netns add demo-server
  ip link add dva netns demo-client type veth peer name dvb netns demo-server
  ip -n demo-client addr add 10.77.0.1/24 dev dva; ip -n demo-server addr add 10.77.0.2/24 dev dvb
  ip -n demo-server addr add 10.77.0.3/24 dev dvb
  for n in demo-client demo-server; do ip -n $n link set lo up; done
  ip -n demo-client link set dva up; ip -n demo-server link set dvb up
  run() { ns=$1; shift; ip netns exec "$ns" $PY "$S" "$@" --lifetime 600 > /tmp/demo.$$.$RANDOM & }
  run demo-server server --listen 10.77.0.2:8080:close --listen 10.77.0.2:2181:drain --listen 10.77.0.2:5432:hold
  run demo-server server --listen 10.77.0.3:9092:hold
  sleep 0.5
  run demo-client leaky --connect 10.77.0.2:8080 --count 40
  run demo-client good --connect 10.77.0.2:2181 --count 1 --churn 10.77.0.2:2181 --cycles 5000
  run demo-client good --connect 10.77.0.2:5432 --count 8
  run demo-client stuck --connect 10.77.0.3:9092 --send-after 5
  sleep 4
  # The broker host vanishes: its address disappears, so data and keepalive probes to it go unanswered.
  ip -n demo-server addr del 10.77.0.3/24 dev dvb
  sleep 6
  echo "demo is up: try  artifacts/conndoctor diagnose --netns demo-client"
  ;;
esac
