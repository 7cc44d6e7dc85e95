#!/usr/bin/env bash
# bench/watch: CPU time `conndoctor watch` (tracepoint mode) uses per second of wall time while a driver makes
# 1k and 5k connections/s on loopback in a namespace; events lost (tracefs ring-buffer overruns). Root needed.
# Usage: bench/watch/run.sh [RATE...]   (default 1000 5000; SECONDS_PER_RATE=10; CONNDOCTOR=path)
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "run as root (tracefs, namespaces)" >&2; exit 1; }
BIN=${CONNDOCTOR:-artifacts/conndoctor}
[ -x "$BIN" ] || { echo "$BIN missing: run scripts/build.sh" >&2; exit 1; }
work=$(mktemp -d)
ns=cdwatch-$$
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
gcc -O2 -pthread -o "$work/churn" bench/watch/churn.c
ip netns add "$ns"
ip -n "$ns" link set lo up
ip netns exec "$ns" sysctl -qw net.ipv4.tcp_tw_reuse=0 net.ipv4.ip_local_port_range="10000 65535"
echo "conndoctor watch, tracepoint mode, $(nproc) CPU(s), kernel $(uname -r)"
python3 bench/watch/bench.py "$(realpath "$BIN")" "$work/churn" "$ns" "$@"
