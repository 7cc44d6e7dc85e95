#!/usr/bin/env bash
# Benchmark: `conndoctor diagnose` (no watch) on a host with ~100k TCP sockets, a real ZooKeeper 3.8 server and a
# 1 GiB ZooKeeper log, against what an operator runs by hand for the same two views: `ss -tanp` and
# `conndoctor zklog`, each run separately (and their sum).
#
# Usage: bench/diagnose/run.sh [SOCKETS] [LOG_MB]      (default 100000 1024; needs root)
# Env:   CONNDOCTOR=path  binary to time (default artifacts/conndoctor)
#        ROUNDS=5         timed runs per command; the median is reported
#        OUT=dir          where the log is kept (default bench/out/zklog, shared with bench/zklog, git-ignored)
#
# In a fresh network namespace: bench/sockets/farm.py builds the socket table (60% ESTABLISHED, 15% CLOSE_WAIT,
# 25% TIME_WAIT on loopback), a real ZooKeeper (Debian's package) listens on 2181 with its own small log, and
# bench/zklog/gen.py's log (a day of a 3.4 server's log, 2016-09-19) is given with --zklog. Two windows:
# --since '2016-09-19 00:00' puts the whole GiB in the window (the worst case: every byte read), --since
# '2016-09-19 23:00' the last hour (what the default --since 1h reads of a live log: the file's end only).
# Every command runs as `ip netns exec NS CMD | cat > /dev/null`, round-robin, from a warm page cache.
set -Eeuo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CONNDOCTOR=${CONNDOCTOR:-$ROOT/artifacts/conndoctor}
ROUNDS=${ROUNDS:-5}
SIZE=${1:-100000}
LOG_MB=${2:-1024}
OUT=${OUT:-$ROOT/bench/out/zklog}
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=python3; fi

missing=()
for t in ip ss java; do command -v $t >/dev/null || missing+=("$t"); done
[ -x /usr/bin/time ] || missing+=("/usr/bin/time (time)")
[ -f /usr/share/java/zookeeper.jar ] || missing+=("zookeeper (Debian package)")
[ ${#missing[@]} -eq 0 ] || { echo "missing: ${missing[*]} (apt-get install -y iproute2 time default-jre-headless zookeeper)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "run as root (it creates a network namespace)" >&2; exit 1; }
[ -x "$CONNDOCTOR" ] || { echo "no conndoctor binary at $CONNDOCTOR (build it with scripts/build.sh)" >&2; exit 1; }

NS="cdbenchdiag-$$"
WORK=$(mktemp -d /tmp/cdbenchdiag.XXXXXX)
FARM_PID=""; ZK_PID=""
cleanup() {
    local rc=$?
    [ -n "$ZK_PID" ] && { kill "$ZK_PID" 2>/dev/null || true; wait "$ZK_PID" 2>/dev/null || true; }
    [ -n "$FARM_PID" ] && { kill "$FARM_PID" 2>/dev/null || true; wait "$FARM_PID" 2>/dev/null || true; }
    ip netns list | grep -qw "^$NS" && ip netns del "$NS"
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
nsx() { ip netns exec "$NS" "$@"; }

# ---- the log: bench/zklog's, generated once and reused ---------------------------------------
mkdir -p "$OUT"
LOG="$OUT/zookeeper-${LOG_MB}m.log"
if [ ! -f "$LOG" ] || [ ! -f "$LOG.truth.json" ]; then
    echo "generating $LOG ($LOG_MB MiB) ..."
    "$PY" "$ROOT/bench/zklog/gen.py" "$LOG" --size-mb "$LOG_MB" 2> "$WORK/gen.err" || { cat "$WORK/gen.err" >&2; exit 1; }
fi
cat "$LOG" > /dev/null   # warm

# ---- the host: a namespace with the farm and a ZooKeeper ---------------------------------------
ip netns add "$NS"
ip -n "$NS" link set lo up
nsx sysctl -qw net.ipv4.ip_local_port_range="10000 65535" net.ipv4.tcp_tw_reuse=0
mkdir -p "$WORK/zk/data"
cat > "$WORK/zk/zoo.cfg" <<EOF
tickTime=2000
dataDir=$WORK/zk/data
clientPort=2181
4lw.commands.whitelist=*
admin.enableServer=false
EOF
cat > "$WORK/zk/log4j.properties" <<EOF
log4j.rootLogger=INFO, F
log4j.appender.F=org.apache.log4j.FileAppender
log4j.appender.F.File=$WORK/zk/zookeeper.log
log4j.appender.F.layout=org.apache.log4j.PatternLayout
log4j.appender.F.layout.ConversionPattern=%d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] - %m%n
EOF
ip netns exec "$NS" java -Xmx96m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar \
    -Dlog4j.configuration="file:$WORK/zk/log4j.properties" org.apache.zookeeper.server.quorum.QuorumPeerMain "$WORK/zk/zoo.cfg" \
    > "$WORK/zk/zookeeper.out" 2>&1 &
ZK_PID=$!
ip netns exec "$NS" "$PY" "$ROOT/bench/sockets/farm.py" --size "$SIZE" --hold 240 > "$WORK/farm.log" 2>&1 &
FARM_PID=$!
for _ in $(seq 1 1800); do
    grep -q '^READY' "$WORK/farm.log" && break
    if grep -q '^FAILED' "$WORK/farm.log" || ! kill -0 "$FARM_PID" 2>/dev/null; then cat "$WORK/farm.log" >&2; exit 1; fi
    sleep 0.1
done
grep -q '^READY' "$WORK/farm.log" || { echo "farm not ready" >&2; exit 1; }
READY_AT=$EPOCHREALTIME
until nsx "$PY" -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",2181),2); s.sendall(b"srvr"); sys.exit(0 if b"Mode" in s.recv(4096) else 1)' 2>/dev/null; do sleep 0.2; done

echo "machine:    $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "conndoctor: $("$CONNDOCTOR" --version)"
echo "table:      $(nsx ss -Htan | wc -l) sockets ($(grep '^READY' "$WORK/farm.log"))"
echo "log:        $LOG, $(stat -c %s "$LOG") bytes"
echo

ALL="--zklog $LOG --since 2016-09-19T00:00"
HOUR="--zklog $LOG --since 2016-09-19T23:00"
LABELS=("diagnose, whole log in window" "diagnose, last hour of the log" "ss -tanp" "zklog --json (whole log)" "zklog --json --since last hour")
CMDS=("$CONNDOCTOR diagnose --json $ALL" "$CONNDOCTOR diagnose --json $HOUR" "ss -tanp" "$CONNDOCTOR zklog --json $LOG" "$CONNDOCTOR zklog --json --since 2016-09-19T23:00 $LOG")

# Sanity: diagnose found the server, read the log and the table.
nsx $CONNDOCTOR diagnose --json $ALL > "$WORK/d.json"
"$PY" - "$WORK/d.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
src = {s["source"]: s for s in d["sources"]}
servers = d["discovery"]["servers"]
print(f"sanity: {d['socketsExamined']} sockets, {len(servers)} ZooKeeper server(s) found, zklog {src['zklog']['state']} "
      f"({src['zklog']['items']} lines), poll {[s['state'] for k, s in src.items() if k.startswith('zk:')]}, {len(d['findings'])} finding(s)")
print("          self-timing: " + ", ".join(f"{s['source']} {s['durationMs']} ms" for s in d["sources"]))
EOF

for i in "${!CMDS[@]}"; do : > "$WORK/t.$i"; done
for ((r = 1; r <= ROUNDS; r++)); do
    age=$(awk -v a="$READY_AT" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", b - a }')
    [ "$age" -lt 45 ] || { echo "note: round $r skipped, the table's TIME_WAITs are about to expire (${age}s)"; break; }
    for i in "${!CMDS[@]}"; do
        t0=$EPOCHREALTIME
        nsx ${CMDS[$i]} 2>>"$WORK/err" | cat > /dev/null
        awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f\n", b - a }' >> "$WORK/t.$i"
    done
done
# Peak resident memory and CPU time of one run each (on a shared machine the CPU time says what the wall time cannot).
/usr/bin/time -o "$WORK/rss" -f '%M %e %U %S' ip netns exec "$NS" $CONNDOCTOR diagnose --json $ALL > /dev/null
/usr/bin/time -o "$WORK/rss.ss" -f '%M %e %U %S' ip netns exec "$NS" ss -tanp > /dev/null
/usr/bin/time -o "$WORK/rss.zl" -f '%M %e %U %S' $CONNDOCTOR zklog --json "$LOG" > /dev/null

median() { sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf '\n%-36s %10s   %s\n' "command" "median s" "runs (s)"
for i in "${!CMDS[@]}"; do printf '%-36s %10s   %s\n' "${LABELS[$i]}" "$(median "$WORK/t.$i")" "$(tr '\n' ' ' < "$WORK/t.$i")"; done
d=$(median "$WORK/t.0"); s=$(median "$WORK/t.2"); z=$(median "$WORK/t.3")
read -r rss wall du ds < "$WORK/rss"
read -r _ _ su ss_ < "$WORK/rss.ss"
read -r _ _ zu zs < "$WORK/rss.zl"
echo
awk -v a="$du" -v b="$ds" -v c="$su" -v d="$ss_" -v e="$zu" -v f="$zs" 'BEGIN { printf "CPU (user+sys): diagnose %.2f s; ss -tanp %.2f s + zklog %.2f s = %.2f s\n", a + b, c + d, e + f, c + d + e + f }'
echo "load average during the run: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores: anything above ~0.5 means other work shares them)"
awk -v d="$d" -v s="$s" -v z="$z" 'BEGIN { printf "ss -tanp + zklog run separately: %.3f s; diagnose (whole log): %.3f s = %.2fx of that\n", s + z, d, d / (s + z) }'
awk -v d="$d" -v m="$rss" 'BEGIN { printf "target: diagnose within 2 s: %s (%.3f s); peak RSS under 150 MB: %s (%.1f MB)\n", (d <= 2 ? "MET" : "NOT MET"), d, (m / 1024 < 150 ? "MET" : "NOT MET"), m / 1024 }'
