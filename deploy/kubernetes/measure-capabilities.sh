#!/usr/bin/env bash
# Measures which Linux capabilities conndoctor needs when it runs as uid 0 with every other capability dropped (the
# shape of the DaemonSet and the systemd unit). Makes a network namespace with three connections owned by nobody,
# then reads the socket tables of all namespaces under several bounding sets and says what each one sees.
# Usage (as root): deploy/kubernetes/measure-capabilities.sh [BINARY]   (default: artifacts/conndoctor)
set -euo pipefail
B=${1:-$(dirname "$0")/../../artifacts/conndoctor}
PY=/usr/bin/python3
NS=cdcap$$
ip netns add $NS
trap 'kill $SERVER 2>/dev/null || true; ip netns del $NS' EXIT
ip -n $NS link set lo up
ip netns exec $NS setpriv --reuid=65534 --regid=65534 --clear-groups $PY -c '
import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 7777)); s.listen(10)
c = [socket.create_connection(("127.0.0.1", 7777)) for _ in range(3)]
a = [s.accept() for _ in range(3)]
time.sleep(120)' &
SERVER=$!
sleep 1
printf '%-48s %-22s %s\n' "bounding set" "sockets seen in $NS" "with their owner (nobody's python3)"
for caps in "-all" "-all,+sys_ptrace" "-all,+dac_read_search" "-all,+sys_ptrace,+dac_read_search" "-all,+sys_admin" \
            "-all,+sys_admin,+sys_ptrace" "-all,+sys_admin,+dac_read_search" "-all,+sys_admin,+sys_ptrace,+dac_read_search" "+all"; do
  setpriv --bounding-set=$caps --inh-caps=-all "$B" sockets --all-netns --json --group-by none 2>/dev/null | NS=$NS CAPS=$caps $PY -c '
import json, os, sys
d = json.load(sys.stdin)
mine = [s for s in d["sockets"] if s["netns"] == os.environ["NS"] and s["state"] == "ESTAB"]
print("%-48s %-22d %d" % (os.environ["CAPS"], len(mine), sum(1 for s in mine if s.get("owners"))))'
done
echo
echo "tracefs (conndoctor watch --duration 1s): mode and the tracepoint source's state"
for caps in "-all" "+all"; do
  setpriv --bounding-set=$caps --inh-caps=-all "$B" watch --duration 1s --json 2>/dev/null | CAPS=$caps $PY -c '
import json, os, sys
d = json.load(sys.stdin)
src = [s for s in d["sources"] if s["source"].startswith("watch")]
print("%-48s mode %s, %s" % (os.environ["CAPS"], d["watch"]["mode"], ", ".join(s["source"] + " " + s["state"] for s in src)))'
done
echo
echo "conntrack (ctnetlink, what the conntrack source reads): conntrack -L"
for caps in "-all" "-all,+net_admin"; do
  printf '%-48s %s\n' "$caps" "$(setpriv --bounding-set=$caps --inh-caps=-all conntrack -L 2>&1 >/dev/null | tail -1)"
done
echo
echo "the agent itself (conndoctor agent --netns $NS, one collection): its /metrics for the namespace"
set +eo pipefail # a grep that matches nothing is a finding here, not an error
for caps in "-all" "-all,+sys_admin,+sys_ptrace,+dac_read_search" "-all,+sys_admin,+sys_ptrace,+dac_read_search,+net_admin"; do
  PORT=$((19000 + RANDOM % 1000))
  setpriv --bounding-set=$caps --inh-caps=-all "$B" agent --listen 127.0.0.1:$PORT --netns $NS --interval 2s 2>/dev/null &
  AGENT=$!
  sleep 6
  M=$(curl -s 127.0.0.1:$PORT/metrics || true)
  kill $AGENT 2>/dev/null || true; wait $AGENT 2>/dev/null || true
  est=$(printf '%s\n' "$M" | grep '^conndoctor_tcp_sockets{state="established"' | grep "netns=\"$NS\"" | awk '{s+=$NF} END {print s+0}')
  owned=$(printf '%s\n' "$M" | grep '^conndoctor_tcp_sockets{state="established",process="python3"' | grep "netns=\"$NS\"" | awk '{s+=$NF} END {print s+0}')
  down=$(printf '%s\n' "$M" | grep '^conndoctor_source_up{' | grep ' 0$' | sed 's/.*source="\([^"]*\)".*/\1/' | tr '\n' ' ')
  printf '%-48s established %s, owned by python3 %s, sources down: %s\n' "$caps" "$est" "$owned" "${down:-none}"
done
