#!/usr/bin/env bash
# Produces the output docs/watch.md shows: a namespace "wdemo" with
#   :2181  a ZooKeeper stand-in that reads until the client closes; one client reconnects 40 times a second
#          (each connection lives well under a millisecond), another holds one connection (well-behaved)
#   :8080  an HTTP-like server sending 8 MB answers; a client reads the first 1000 bytes 10 times a second and closes
# then runs `conndoctor watch` on it (ARGS, default: --duration 5s). Root; bounded; cleans up after itself.
# Usage: docs/watch-demo.sh [conndoctor watch options...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
S="$root/tests/ConnDoctor.Tests/helpers/scenario.py"
BIN=${CONNDOCTOR:-$root/artifacts/conndoctor}
ns=wdemo
cleanup() { kill ${pids:-} 2>/dev/null || true; ip netns del $ns 2>/dev/null || true; }
trap cleanup EXIT
cleanup
ip netns add $ns; ip -n $ns link set lo up
ip netns exec $ns sysctl -qw net.ipv4.tcp_tw_reuse=0
bg() { ip netns exec $ns timeout 60 /usr/bin/python3 "$S" "$@" --lifetime 30 >/dev/null & pids="${pids:-} $!"; }
bg server --listen 127.0.0.1:2181:drain
bg bulk --listen 127.0.0.1:8080 --bytes 8388608
sleep 0.5
bg pace --connect 127.0.0.1:2181 --rate 40 --seconds 20 --start-after 1
bg pace --connect 127.0.0.1:2181 --rate 2 --seconds 20 --keep --start-after 1
bg pace --connect 127.0.0.1:8080 --rate 10 --seconds 20 --peek 1000 --start-after 1
sleep 0.5
if [ $# -eq 0 ]; then set -- --duration 5s; fi
"$BIN" watch --netns $ns "$@"
