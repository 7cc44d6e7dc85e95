#!/usr/bin/env bash
# conndoctor agent's overhead beside node_exporter's tcpstat collector, on the same namespace:
# ~RATE connections/s of churn (a python client connecting and closing, bounded by SECONDS) and HOLD
# idle sockets held open, both collectors scraped every 5 s. Prints CPU % of one core, peak RSS, scrape
# latency and series count for each, and the ratios. Root; makes and deletes its own namespace.
# Usage: bench/agent/run.sh [RATE=1000] [HOLD=20000] [SECONDS=60]
set -euo pipefail
cd "$(dirname "$0")/../.."
RATE=${1:-1000}; HOLD=${2:-20000}; DUR=${3:-60}
BIN=${CONNDOCTOR:-artifacts/conndoctor}
command -v prometheus-node-exporter >/dev/null || { apt-get install -y -qq prometheus-node-exporter >/dev/null || true; }
NS=cdbench-agent-$$
ip netns add "$NS"; ip -n "$NS" link set lo up
ip netns exec "$NS" sysctl -qw net.ipv4.ip_local_port_range="10000 65535"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; ip netns del "$NS" 2>/dev/null || true; }
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"
SCEN=tests/ConnDoctor.Tests/helpers/scenario.py
ip netns exec "$NS" python3 $SCEN server --listen 127.0.0.1:7000:hold --lifetime $((DUR + 60)) > /dev/null & pids+=($!)
ip netns exec "$NS" python3 $SCEN server --listen 127.0.0.1:7001:drain --lifetime $((DUR + 60)) > /dev/null & pids+=($!)
sleep 1
ip netns exec "$NS" python3 $SCEN good --connect 127.0.0.1:7000 --count "$HOLD" --lifetime $((DUR + 60)) > /dev/null & pids+=($!)
sleep 3
"$BIN" agent --listen 127.0.0.1:19150 --netns "$NS" --interval 15s > /dev/null 2>/tmp/cdbench-agent.err & agent=$!; pids+=($agent)
ne=""
if command -v prometheus-node-exporter >/dev/null; then
  ip netns exec "$NS" prometheus-node-exporter --collector.disable-defaults --collector.tcpstat --web.listen-address=127.0.0.1:19151 > /dev/null 2>&1 & ne=$!; pids+=($ne)
fi
sleep 20   # the agent's first collection
# The churn: RATE connects/s, each closed by the client (TIME_WAIT on its side), bounded by DUR.
ip netns exec "$NS" python3 $SCEN pace --connect 127.0.0.1:7001 --rate "$RATE" --seconds "$DUR" --start-after 0.1 --silent --lifetime $((DUR + 30)) > /tmp/cdbench-pace.out & pids+=($!)
cpu() { awk '{print $14 + $15}' /proc/$1/stat; }
tck=$(getconf CLK_TCK)
a0=$(cpu $agent); n0=${ne:+$(cpu $ne)}; t0=$(date +%s.%N)
lat_a=(); lat_n=(); rss_a=0; rss_n=0
end=$(( $(date +%s) + DUR ))
while [ "$(date +%s)" -lt "$end" ]; do
  lat_a+=($(curl -s -o /tmp/cdbench-a.txt -w '%{time_total}' http://127.0.0.1:19150/metrics))
  [ -n "$ne" ] && lat_n+=($(ip netns exec "$NS" curl -s -o /tmp/cdbench-n.txt -w '%{time_total}' http://127.0.0.1:19151/metrics))
  r=$(awk '/VmRSS/{print $2}' /proc/$agent/status); [ "$r" -gt "$rss_a" ] && rss_a=$r
  [ -n "$ne" ] && { r=$(awk '/VmRSS/{print $2}' /proc/$ne/status); [ "$r" -gt "$rss_n" ] && rss_n=$r; }
  sleep 5
done
a1=$(cpu $agent); n1=${ne:+$(cpu $ne)}; t1=$(date +%s.%N)
opened=$(grep -o 'done [0-9]*' /tmp/cdbench-pace.out | awk '{print $2}' || true)
stats() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "median %.0f ms, max %.0f ms", a[int((NR+1)/2)]*1000, a[NR]*1000}'; }
series_a=$(grep -vc '^#' /tmp/cdbench-a.txt)
cpu_a=$(echo "($a1 - $a0) / $tck / ($t1 - $t0) * 100" | bc -l)
echo "churn: ${opened:-?} connections in ${DUR}s (target ${RATE}/s), ${HOLD} sockets held, agent interval 15s"
printf 'conndoctor agent:  CPU %.2f%% of one core, peak RSS %d MB, scrape %s, %d series\n' "$cpu_a" $((rss_a / 1024)) "$(stats "${lat_a[@]}")" "$series_a"
if [ -n "$ne" ]; then
  series_n=$(grep -vc '^#' /tmp/cdbench-n.txt)
  cpu_n=$(echo "($n1 - $n0) / $tck / ($t1 - $t0) * 100" | bc -l)
  printf 'node_exporter tcpstat: CPU %.2f%% of one core, peak RSS %d MB, scrape %s, %d series\n' "$cpu_n" $((rss_n / 1024)) "$(stats "${lat_n[@]}")" "$series_n"
  printf 'ratio agent/node_exporter: CPU %.1fx, RSS %.1fx\n' "$(echo "$cpu_a / ($cpu_n + 0.0001)" | bc -l)" "$(echo "$rss_a / $rss_n" | bc -l)"
fi
grep -E 'conndoctor_(trace_events_lost_total|tracked_connections|tracked_connections_dropped_total) ' /tmp/cdbench-a.txt || true
grep -E 'conndoctor_tcp_connections_opened_total\{.*7001' /tmp/cdbench-a.txt || true
