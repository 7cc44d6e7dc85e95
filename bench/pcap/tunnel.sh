#!/usr/bin/env bash
# Decapsulation cost: the capture bench/pcap/run.sh records (plain TCP on lo), and the same packets inside VXLAN
# (encap.py), each read with conndoctor pcap --json (best of 3); prints both times and their ratio, the
# connection counts next to tshark's on the tunnelled file, and, when BASELINE=path/to/an/older/conndoctor is
# given, that binary's time on the plain file (to show that plain captures did not get slower).
#   bench/pcap/tunnel.sh [CONNECTIONS]     default 50000 connections (about 480,000 packets)
set -euo pipefail
cd "$(dirname "$0")/../.."
conns=${1:-50000}
plain=/tmp/conndoctor-bench-$conns.pcap
vxlan=/tmp/conndoctor-bench-$conns-vxlan.pcap
bin=artifacts/conndoctor
[ -x "$bin" ] || { echo "run scripts/build.sh first" >&2; exit 1; }
[ -s "$plain" ] || bench/pcap/run.sh "$conns" "$plain" > /dev/null
[ -s "$vxlan" ] || python3 bench/pcap/encap.py "$plain" "$vxlan"
for f in "$plain" "$vxlan"; do echo "capture: $f, $(du -h "$f" | cut -f1), $(capinfos -c -M "$f" | sed -nE 's/^Number of packets: +([0-9]+)/\1/p') packets"; cat "$f" > /dev/null; done

# Best of 3 by wall-clock time, and best of 3 CPU seconds (user + system), which a machine shared with other work
# disturbs far less than the wall clock.
best() {
  local w c
  for _ in 1 2 3; do /usr/bin/time -f "%e %U %S" -o /tmp/cd-bench-time "$@" > /dev/null 2>&1; read -r w u s < /tmp/cd-bench-time; echo "$w $(echo "$u + $s" | bc)"; done |
    awk 'NR == 1 || $1 < w { w = $1 } NR == 1 || $2 < c { c = $2 } END { printf "%.3f %.3f", w, c }'
}
read -r p_w p_c <<< "$(best "$bin" pcap --json "$plain")"
read -r v_w v_c <<< "$(best "$bin" pcap --json "$vxlan")"
printf '%-44s %8s s wall %8s s CPU\n' "conndoctor pcap --json, plain (best of 3)" "$p_w" "$p_c" "conndoctor pcap --json, VXLAN (best of 3)" "$v_w" "$v_c"
if [ -n "${BASELINE:-}" ]; then
  read -r b_w b_c <<< "$(best "$BASELINE" pcap --json "$plain")"
  printf '%-44s %8s s wall %8s s CPU\n' "baseline, plain (best of 3)" "$b_w" "$b_c"
  echo "plain, this build / baseline: $(echo "scale=2; $p_w / $b_w" | bc)x wall, $(echo "scale=2; $p_c / $b_c" | bc)x CPU"
fi
echo "VXLAN / plain: $(echo "scale=2; $v_w / $p_w" | bc)x wall, $(echo "scale=2; $v_c / $p_c" | bc)x CPU"
count() { "$bin" pcap --json "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin)["capture"]; print(d["connections"], d["rstPackets"], [(t["kind"], t["path"], t["packets"]) for t in d["tunnels"]])'; }
echo "connections, RST packets, tunnels: plain $(count "$plain"); VXLAN $(count "$vxlan")"
echo "TCP conversations (tshark -d udp.port==8472,vxlan on the VXLAN file): $(tshark -d udp.port==8472,vxlan -q -z conv,tcp -r "$vxlan" 2>/dev/null | grep -c '<->' || true)"
