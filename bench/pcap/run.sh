#!/usr/bin/env bash
# Records a capture of about 1.5 million packets in a namespace of its own (traffic.py: short connections,
# refused attempts, unread-data resets, rejected connections, bulk transfers), then times on that same file
# conndoctor pcap --json, tshark's TCP conversation table and tcpdump -nr, each writing to a pipe.
# Needs root (ip netns), tcpdump, tshark and artifacts/conndoctor (scripts/build.sh). Not run in CI.
#   bench/pcap/run.sh [CONNECTIONS] [FILE]     default 150000 connections, /tmp/conndoctor-bench.pcap
set -euo pipefail
cd "$(dirname "$0")/../.."
conns=${1:-150000}
file=${2:-/tmp/conndoctor-bench.pcap}
bin=artifacts/conndoctor
[ -x "$bin" ] || { echo "run scripts/build.sh first" >&2; exit 1; }

if [ ! -s "$file" ]; then
  ns=cd-bench-pcap-$$
  ip netns add "$ns"
  trap 'kill -INT "$td" 2>/dev/null || true; ip netns del "$ns" 2>/dev/null || true' EXIT
  ip netns exec "$ns" ip link set lo up
  # A snap length of 200 keeps every header and the file near 100 bytes a packet, as a field capture would be.
  ip netns exec "$ns" tcpdump -i lo -s 200 -B 65536 -w "$file" 2>/tmp/cd-bench-tcpdump.err & td=$!
  sleep 1
  timeout 600 ip netns exec "$ns" python3 bench/pcap/traffic.py --conns "$conns"
  sleep 1
  kill -INT "$td"; wait "$td" || true
  grep -E 'captured|dropped' /tmp/cd-bench-tcpdump.err
fi

packets=$(capinfos -c -M "$file" | sed -nE 's/^Number of packets: +([0-9]+)/\1/p')
size=$(du -h "$file" | cut -f1)
echo "capture: $file, $size, $packets packets"

cat "$file" > /dev/null # the page cache holds the file for every tool alike
time_of() { local s e; s=$(date +%s.%N); "$@" 2>/dev/null | cat > /dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }

cd_t=$(for _ in 1 2 3; do time_of "$bin" pcap --json "$file"; done | sort -n | head -1)
ts_t=$(time_of tshark -q -z conv,tcp -r "$file")
td_t=$(time_of tcpdump -nr "$file")
bpf_t=$(time_of tcpdump -nr "$file" 'tcp[tcpflags] & tcp-rst != 0')
cat_t=$(time_of cat "$file")
conv_cd=$("$bin" pcap --json "$file" | python3 -c 'import json,sys; d=json.load(sys.stdin)["capture"]; print(d["connections"], d["rstPackets"])')
conv_ts=$(tshark -q -z conv,tcp -r "$file" 2>/dev/null | grep -c '<->' || true)

printf '%-34s %8s s\n' "conndoctor pcap --json (best of 3)" "$cd_t" "tshark -q -z conv,tcp" "$ts_t" "tcpdump -nr" "$td_t" \
  "tcpdump -nr, BPF: RSTs only" "$bpf_t" "cat" "$cat_t"
echo "tshark / conndoctor:  $(echo "scale=1; $ts_t / $cd_t" | bc)x"
echo "tcpdump / conndoctor: $(echo "scale=1; $td_t / $cd_t" | bc)x"
echo "connections, RST packets (conndoctor): $conv_cd; TCP conversations (tshark): $conv_ts"
