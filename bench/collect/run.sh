#!/usr/bin/env bash
# Benchmark: `conndoctor collect` on a host with ~100k TCP sockets: the document's size (gzip'd), its cost against
# `diagnose` on the same host (target: no more), against the peer an operator would save by hand (`ss -tanpi`, every
# socket with its owner and tcp_info, gzip'd), and `diagnose --from` over 10 such documents (target: within 5 s).
#
# Usage: bench/collect/run.sh [SOCKETS]        (default 100000; needs root)
# Env:   CONNDOCTOR=path  binary to time (default artifacts/conndoctor)
#        ROUNDS=3         timed runs per command; the median is reported
#
# The table is bench/sockets/farm.py's (60% ESTABLISHED, 15% CLOSE_WAIT, 25% TIME_WAIT on loopback, in a fresh
# network namespace; see bench/README.md "sockets"). Every command runs as `ip netns exec NS CMD`, round-robin.
set -Eeuo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CONNDOCTOR=${CONNDOCTOR:-$ROOT/artifacts/conndoctor}
ROUNDS=${ROUNDS:-3}
SIZE=${1:-100000}
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=python3; fi

[ "$(id -u)" -eq 0 ] || { echo "run as root (it creates a network namespace)" >&2; exit 1; }
[ -x "$CONNDOCTOR" ] || { echo "no conndoctor binary at $CONNDOCTOR (build it with scripts/build.sh)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "missing: /usr/bin/time (apt-get install -y time)" >&2; exit 1; }
for t in ip ss gzip; do command -v $t >/dev/null || { echo "missing: $t" >&2; exit 1; }; done

NS="cdbenchcollect-$$"
WORK=$(mktemp -d /tmp/cdbenchcollect.XXXXXX)
FARM_PID=""
cleanup() {
    local rc=$?
    [ -n "$FARM_PID" ] && { kill "$FARM_PID" 2>/dev/null || true; wait "$FARM_PID" 2>/dev/null || true; }
    ip netns list | grep -qw "^$NS" && ip netns del "$NS"
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
nsx() { ip netns exec "$NS" "$@"; }
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

ip netns add "$NS"
ip -n "$NS" link set lo up
nsx sysctl -qw net.ipv4.ip_local_port_range="10000 65535" net.ipv4.tcp_tw_reuse=0
nsx "$PY" "$ROOT/bench/sockets/farm.py" --size "$SIZE" --hold 240 > "$WORK/farm.log" 2>&1 &
FARM_PID=$!
for _ in $(seq 1 1800); do
    grep -q '^READY' "$WORK/farm.log" && break
    if grep -q '^FAILED' "$WORK/farm.log" || ! kill -0 "$FARM_PID" 2>/dev/null; then cat "$WORK/farm.log" >&2; exit 1; fi
    sleep 0.1
done
grep -q '^READY' "$WORK/farm.log" || { echo "farm not ready" >&2; exit 1; }

echo "machine:    $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "table:      $(nsx ss -Htan | wc -l) sockets"

# Round-robin: diagnose, collect (gzip'd file), collect (plain file), ss -tanpi | gzip.
# timed KEY CMD...: wall seconds to t.KEY, CPU seconds (user+sys, children included) to c.KEY.
timed() {
    local key=$1; shift
    /usr/bin/time -o "$WORK/rt" -f '%e %U %S' "$@"
    read -r e u s < "$WORK/rt"
    echo "$e" >> "$WORK/t.$key"
    awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f\n", u + s }' >> "$WORK/c.$key"
}
for k in diag coll plain ss from1 from10; do : > "$WORK/t.$k"; : > "$WORK/c.$k"; done
for ((r = 1; r <= ROUNDS; r++)); do
    timed diag sh -c "ip netns exec $NS $CONNDOCTOR diagnose --json --no-app-logs > /dev/null"
    timed coll sh -c "ip netns exec $NS $CONNDOCTOR collect --no-app-logs -o $WORK/doc.json.gz 2> $WORK/collect.err"
    timed plain sh -c "ip netns exec $NS $CONNDOCTOR collect --no-app-logs -o $WORK/doc.json 2> /dev/null"
    timed ss sh -c "ip netns exec $NS ss -tanpi | gzip -6 > $WORK/ss.txt.gz"
done
nsx ss -tanpi > "$WORK/ss.txt"
cat "$WORK/collect.err"
sockets=$("$PY" -c 'import gzip, json, sys; print(len(json.load(gzip.open(sys.argv[1]))["sockets"]))' "$WORK/doc.json.gz")
mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f", b / 1048576 }'; }
echo
echo "document:   $sockets sockets; $(mb "$WORK/doc.json") MB JSON, $(mb "$WORK/doc.json.gz") MB gzip'd" \
     "($(awk -v b="$(stat -c %s "$WORK/doc.json.gz")" -v n="$sockets" 'BEGIN { printf "%.0f", b / n }') bytes a socket)"
echo "peer:       ss -tanpi text $(mb "$WORK/ss.txt") MB, gzip'd $(mb "$WORK/ss.txt.gz") MB"

# diagnose --from over 10 documents (ten hosts of 100k sockets each: copies of this one, each given its own network
# identity, 10.99.I.1 and fd99::I, so that they are ten hosts to the joins rather than one host collected ten times)
# and over one.
DOCS=()
for i in $(seq 1 10); do
    $PY - "$WORK/doc.json.gz" "$WORK/doc$i.json.gz" "$i" <<'PYEOF'
import gzip, json, sys
src, dst, i = sys.argv[1], sys.argv[2], int(sys.argv[3])
with gzip.open(src, "rt") as f: d = json.load(f)
for ns in d["identity"]["namespaces"]:
    ns["addresses"] = [a for a in ns["addresses"] if a["interface"] == "lo"] + [
        {"interface": "eth0", "address": f"10.99.{i}.1", "prefixLength": 24},
        {"interface": "eth0", "address": f"fd99::{i}", "prefixLength": 64}]
with gzip.open(dst, "wt", compresslevel=1) as f: json.dump(d, f, separators=(",", ":"))
PYEOF
    DOCS+=("$WORK/doc$i.json.gz")
done
for ((r = 1; r <= ROUNDS; r++)); do
    timed from1 sh -c "$CONNDOCTOR diagnose --json --from $WORK/doc.json.gz > /dev/null"
    timed from10 sh -c "$CONNDOCTOR diagnose --json --from ${DOCS[*]} > /dev/null"
done
/usr/bin/time -o "$WORK/rss" -f '%M %U %S' "$CONNDOCTOR" diagnose --json --from "${DOCS[@]}" > /dev/null

printf '\n%-40s %9s %9s   %s\n' "command" "wall s" "CPU s" "runs: wall (s)"
for k in diag coll plain ss from1 from10; do
    case $k in
        diag) l="diagnose --json (live, 1 host)";; coll) l="collect -o doc.json.gz";; plain) l="collect -o doc.json (no gzip)";;
        ss) l="ss -tanpi | gzip";; from1) l="diagnose --json --from 1 document";; from10) l="diagnose --json --from 10 documents";;
    esac
    printf '%-40s %9s %9s   %s\n' "$l" "$(median "$WORK/t.$k")" "$(median "$WORK/c.$k")" "$(tr '\n' ' ' < "$WORK/t.$k")"
done
d=$(median "$WORK/t.diag"); c=$(median "$WORK/t.coll"); s=$(median "$WORK/t.ss"); f=$(median "$WORK/t.from10")
dc=$(median "$WORK/c.diag"); cc=$(median "$WORK/c.coll"); sc=$(median "$WORK/c.ss")
read -r rss fu fs < "$WORK/rss"
echo
awk -v c="$c" -v d="$d" -v s="$s" -v cc="$cc" -v dc="$dc" -v sc="$sc" 'BEGIN { printf "collect / diagnose: %.2fx wall, %.2fx CPU (target <= 1); collect / (ss -tanpi | gzip): %.2fx wall, %.2fx CPU\n", c / d, cc / dc, c / s, cc / sc }'
awk -v b="$(stat -c %s "$WORK/doc.json.gz")" -v n="$sockets" 'BEGIN { m = b / 1048576 * 100000 / n; printf "size at 100k sockets: %.1f MB gzip'"'"'d (target under 30): %s\n", m, (m < 30 ? "MET" : "NOT MET") }'
awk -v f="$f" -v u="$fu" -v s="$fs" -v m="$rss" 'BEGIN { printf "diagnose --from 10 documents: %.2f s wall, %.2f s CPU, peak RSS %.0f MB (target within 5 s): %s\n", f, u + s, m / 1024, (f <= 5 ? "MET" : "NOT MET") }'
echo "load average during the run: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores: anything above ~0.5 means other work shares them)"
