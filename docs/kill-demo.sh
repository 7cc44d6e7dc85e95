#!/usr/bin/env bash
# Produces the output docs/kill.md shows. Three namespaces joined by veth pairs:
#   kdemo-zk  a ZooKeeper stand-in listening on :2181 (holds connections, echoes what arrives)
#   kdemo-a   a client host (10.77.1.1) that opens 4 connections, then vanishes: its link is cut and its process
#             killed, so its FINs never leave and the server keeps 4 half-open connections
#   kdemo-b   another client host (10.77.2.1): 2 idle connections and 1 busy one to the same port, all alive
# then runs diagnose, the exact kill command its remedy offers (dry run, then --yes) and ss. Root; bounded; cleans up.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
S="$root/tests/ConnDoctor.Tests/helpers/scenario.py"
BIN=${CONNDOCTOR:-$root/artifacts/conndoctor}
pids=""
cleanup() { kill $pids 2>/dev/null || true; for n in kdemo-zk kdemo-a kdemo-b; do ip netns del $n 2>/dev/null || true; done; }
trap cleanup EXIT
cleanup
for n in kdemo-zk kdemo-a kdemo-b; do ip netns add $n; ip -n $n link set lo up; done
ip link add kdva netns kdemo-a type veth peer name kdvza netns kdemo-zk
ip link add kdvb netns kdemo-b type veth peer name kdvzb netns kdemo-zk
ip -n kdemo-a addr add 10.77.1.1/24 dev kdva; ip -n kdemo-zk addr add 10.77.1.2/24 dev kdvza
ip -n kdemo-b addr add 10.77.2.1/24 dev kdvb; ip -n kdemo-zk addr add 10.77.2.2/24 dev kdvzb
ip -n kdemo-a link set kdva up; ip -n kdemo-zk link set kdvza up; ip -n kdemo-b link set kdvb up; ip -n kdemo-zk link set kdvzb up
bg() { local ns=$1; shift; ip netns exec $ns timeout 120 /usr/bin/python3 "$S" "$@" --lifetime 90 > /tmp/kdemo-$ns.out & pids="$pids $!"; }
bg kdemo-zk server --listen 0.0.0.0:2181:hold
sleep 0.5
bg kdemo-a leaky --connect 10.77.1.2:2181 --count 4
ip netns exec kdemo-b timeout 120 /usr/bin/python3 "$S" leaky --connect 10.77.2.2:2181 --count 2 --lifetime 90 > /dev/null & pids="$pids $!"
ip netns exec kdemo-b timeout 120 /usr/bin/python3 "$S" pace --connect 10.77.2.2:2181 --rate 5 --seconds 80 --keep --start-after 0.1 --lifetime 90 > /dev/null & pids="$pids $!"
for _ in $(seq 50); do grep -q ready /tmp/kdemo-kdemo-a.out && break; sleep 0.2; done
ip -n kdemo-a link set kdva down                              # the host vanishes...
kill "$(cut -d' ' -f2 /tmp/kdemo-kdemo-a.out)"                  # ...and its process dies: its FINs never leave
sleep 4
run() { local shown="$*"; echo "\$ ${shown//$BIN/conndoctor}"; "$@" || echo "(exit $?)"; echo; }
run "$BIN" diagnose --netns kdemo-zk --idle 3s --rule half-open-suspect
# The exact command the finding offers (from its JSON), run as given.
cmd=$("$BIN" diagnose --netns kdemo-zk --idle 3s --rule half-open-suspect --json | /usr/bin/python3 -c '
import json, re, sys
for f in json.load(sys.stdin)["findings"]:
    if f["subject"].get("remoteEndpoint") == "10.77.1.1":
        print(re.search(r"\"(conndoctor kill [^\"]+)\"", f["remedy"]).group(1))')
read -r -a args <<< "${cmd#conndoctor }"
run "$BIN" "${args[@]}"
run "$BIN" "${args[@]}" --yes
run ip netns exec kdemo-zk ss -tn
run "$BIN" kill --netns kdemo-zk
