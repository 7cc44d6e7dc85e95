#!/usr/bin/env bash
# conndoctor agent's overhead beside node_exporter's tcpstat collector, on the same namespace:
# RATE connections/s of churn (a python client connecting and closing, bounded by DUR seconds) and HOLD
# idle sockets held open (HOLD/2 loopback connections, both ends in the table, spread over holder processes of
# ~16k file descriptors each: bench/agent/hold.py), both collectors scraped every 5 s. "Sockets" are what the agent
# reads: TCP sockets of every state in the namespace's table (the churn's TIME_WAIT come on top of HOLD).
# Prints CPU % of one core (over the whole churn and over its last 60 s, when the 5-min window is full), peak RSS,
# scrape latency and series count for each, and the ratios. Root; makes and deletes its own namespace.
# Usage: bench/agent/run.sh [RATE=1000] [HOLD=100000] [DUR=360]
#   CONNDOCTOR=path (default artifacts/conndoctor), AGENT_ARGS="--max-connections 20000", AGENT_ENV="DOTNET_...=..." 
set -euo pipefail
cd "$(dirname "$0")/../.."
RATE=${1:-1000}; HOLD=${2:-100000}; DUR=${3:-360}
BIN=${CONNDOCTOR:-artifacts/conndoctor}
command -v prometheus-node-exporter >/dev/null || { apt-get install -y -qq prometheus-node-exporter >/dev/null || true; }
NS=cdbench-agent-$$
OUT=$(mktemp -d /tmp/cdbench-agent.XXXXXX)
ip netns add "$NS"; ip -n "$NS" link set lo up
ip netns exec "$NS" sysctl -qw net.ipv4.ip_local_port_range="10000 65535"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; ip netns del "$NS" 2>/dev/null || true; }
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"
LIFE=$((DUR + 120))
# The held sockets: PER connections per holder (2 fds each, under the open-files hard limit), one port each.
PER=$(( ($(ulimit -Hn) - 100) / 2 )); [ "$PER" -gt 8000 ] && PER=8000
conns=$((HOLD / 2)); nhold=0
while [ "$conns" -gt 0 ]; do
  n=$(( conns < PER ? conns : PER ))
  ip netns exec "$NS" python3 bench/agent/hold.py 127.0.0.1 $((7100 + nhold)) "$n" "$LIFE" > "$OUT/hold.$nhold" & pids+=($!)
  conns=$((conns - n)); nhold=$((nhold + 1))
done
SCEN=tests/ConnDoctor.Tests/helpers/scenario.py
ip netns exec "$NS" python3 $SCEN server --listen 127.0.0.1:7001:drain --lifetime "$LIFE" > /dev/null & pids+=($!)
for i in $(seq 0 $((nhold - 1))); do
  for _ in $(seq 1 600); do grep -q '^held' "$OUT/hold.$i" 2>/dev/null && break; sleep 0.2; done
done
held=$(cat "$OUT"/hold.* | awk '/^held/ {s += $2} END {print s * 2}')
env ${AGENT_ENV:-} "$BIN" agent --listen 127.0.0.1:19150 --netns "$NS" --interval 15s ${AGENT_ARGS:-} > /dev/null 2>"$OUT/agent.err" & agent=$!; pids+=($agent)
ne=""
if command -v prometheus-node-exporter >/dev/null; then
  ip netns exec "$NS" prometheus-node-exporter --collector.disable-defaults --collector.tcpstat --web.listen-address=127.0.0.1:19151 > /dev/null 2>&1 & ne=$!; pids+=($ne)
fi
sleep 20   # the agent's first collection
# The churn: RATE connects/s, each closed by the client (TIME_WAIT on its side), bounded by DUR.
ip netns exec "$NS" python3 $SCEN pace --connect 127.0.0.1:7001 --rate "$RATE" --seconds "$DUR" --start-after 0.1 --silent --lifetime $((DUR + 30)) > "$OUT/pace.out" & pids+=($!)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Ticks per thread name (the trace thread, the collection thread, the GC and thread pool), summed over threads of one name.
threads() { for t in /proc/$1/task/*; do printf '%s %s\n' "$(tr ' ' '_' < "$t/comm")" "$(awk '{print $14 + $15}' "$t/stat")"; done | awk '{a[$1] += $2} END {for (k in a) print k, a[k]}' | sort; }
tck=$(getconf CLK_TCK)
a0=$(cpu $agent); n0=${ne:+$(cpu $ne)}; t0=$(date +%s.%N); threads $agent > "$OUT/threads0"
lat_a=(); lat_n=(); rss_a=0; rss_n=0; a60=""; n60=""; t60=""
start=$(date +%s); end=$((start + DUR))
while [ "$(date +%s)" -lt "$end" ]; do
  if [ -z "$a60" ] && [ "$(date +%s)" -ge $((end - 60)) ]; then a60=$(cpu $agent); n60=${ne:+$(cpu $ne)}; t60=$(date +%s.%N); fi
  lat_a+=($(curl -s -o "$OUT/a.txt" -w '%{time_total}' http://127.0.0.1:19150/metrics))
  [ -n "$ne" ] && lat_n+=($(ip netns exec "$NS" curl -s -o "$OUT/n.txt" -w '%{time_total}' http://127.0.0.1:19151/metrics))
  r=$(awk '/VmRSS/{print $2}' /proc/$agent/status); [ "$r" -gt "$rss_a" ] && rss_a=$r; echo "$(( $(date +%s) - start )) s: agent RSS $((r / 1024)) MB, CPU $(cpu $agent) ticks" >> "$OUT/rss.txt"
  [ -n "$ne" ] && { r=$(awk '/VmRSS/{print $2}' /proc/$ne/status); [ "$r" -gt "$rss_n" ] && rss_n=$r; }
  sleep 5
done
a1=$(cpu $agent); n1=${ne:+$(cpu $ne)}; t1=$(date +%s.%N); threads $agent > "$OUT/threads1"
table=$(ip netns exec "$NS" ss -s | awk '/^TCP:/')
for _ in $(seq 1 60); do grep -q "^done" "$OUT/pace.out" && break; sleep 1; done
opened=$(grep -o "done [0-9]*" "$OUT/pace.out" | awk "{print \$2}" || true)
stats() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "median %.0f ms, max %.0f ms", a[int((NR+1)/2)]*1000, a[NR]*1000}'; }
pct() { echo "($2 - $1) / $tck / ($4 - $3) * 100" | bc -l; }
series_a=$(grep -vc '^#' "$OUT/a.txt")
cpu_a=$(pct "$a0" "$a1" "$t0" "$t1"); cpu_a60=$(pct "$a60" "$a1" "$t60" "$t1")
echo "$(date -u +%F) $(nproc) cores, kernel $(uname -r)"
echo "churn: ${opened:-?} connections in ${DUR}s (target ${RATE}/s); ${held} sockets held by ${nhold} holder(s); agent interval 15s, window 5 min"
echo "socket table at the end: $table"
printf 'conndoctor agent:      CPU %.2f%% of one core (last 60 s: %.2f%%), peak RSS %d MB, scrape %s, %d series\n' "$cpu_a" "$cpu_a60" $((rss_a / 1024)) "$(stats "${lat_a[@]}")" "$series_a"
if [ -n "$ne" ]; then
  series_n=$(grep -vc '^#' "$OUT/n.txt")
  cpu_n=$(pct "$n0" "$n1" "$t0" "$t1"); cpu_n60=$(pct "$n60" "$n1" "$t60" "$t1")
  printf 'node_exporter tcpstat: CPU %.2f%% of one core (last 60 s: %.2f%%), peak RSS %d MB, scrape %s, %d series\n' "$cpu_n" "$cpu_n60" $((rss_n / 1024)) "$(stats "${lat_n[@]}")" "$series_n"
  printf 'ratio agent/node_exporter: CPU %.1fx, RSS %.1fx, series %.1fx\n' "$(echo "$cpu_a / ($cpu_n + 0.0001)" | bc -l)" "$(echo "$rss_a / $rss_n" | bc -l)" "$(echo "$series_a / $series_n" | bc -l)"
fi
printf 'agent per thread (%% of one core): %s\n' "$(join -a2 -e0 -o 0,1.2,2.2 "$OUT/threads0" "$OUT/threads1" | awk -v tck="$tck" -v s="$(echo "$t1 - $t0" | bc -l)" '{d = ($3 - $2) / tck / s * 100; if (d >= 0.05) printf "%s %.2f, ", $1, d}')"
grep -E '^conndoctor_(trace_events_lost_total|tracked_connections|tracked_connections_dropped_total|source_duration_seconds)' "$OUT/a.txt" || true
grep -E '^conndoctor_tcp_connections_opened_total\{.*7001' "$OUT/a.txt" || true
echo "raw files: $OUT"
