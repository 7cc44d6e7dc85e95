#!/usr/bin/env bash
# Benchmark: `conndoctor sockets --group-by none --json` (every socket, owning process joined)
# against `ss -tanp` and `netstat -antp` on the same large TCP table, with `ss -tan` and
# `netstat -ant` (no process join) for reference.
#
# Usage: bench/sockets/run.sh [SIZE...]        (default: 10000 100000; needs root)
# Env:   CONNDOCTOR=path  binary to time (default artifacts/conndoctor)
#        ROUNDS=5         timed runs per command; the median is reported
#        TW_BUDGET=50     seconds after READY by which a round must end (TIME_WAIT lives 60 s)
#        PEERS=0          time conndoctor only (with COMPARE: a before/after of a change on a busy machine)
#        COMPARE=path     another conndoctor binary (e.g. main's) timed in the same rounds, with both
#                         binaries' own socket-dump time (sources "sockets:netlink" durationMs) per round
#
# For each SIZE: a fresh network namespace, farm.py builds ~SIZE sockets on its loopback
# (60% ESTABLISHED, 15% CLOSE_WAIT, 25% TIME_WAIT), the counts are checked with ss, and every
# command is timed the same way: `ip netns exec NS CMD | cat > /dev/null`.
# Nothing leaves the namespace's loopback; the namespace is deleted on exit, Ctrl-C or error.
set -Eeuo pipefail
export LC_ALL=C   # $EPOCHREALTIME and printf must use '.' as the decimal point

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CONNDOCTOR=${CONNDOCTOR:-$ROOT/artifacts/conndoctor}
ROUNDS=${ROUNDS:-5}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(10000 100000)
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=python3; fi

# ---- preflight: report what is missing, install nothing -------------------------------------
missing=()
command -v ip >/dev/null || missing+=("ip (iproute2)")
command -v ss >/dev/null || missing+=("ss (iproute2)")
command -v netstat >/dev/null || missing+=("netstat (net-tools)")
command -v "$PY" >/dev/null || missing+=("python3")
if [ ${#missing[@]} -gt 0 ]; then
    echo "missing: ${missing[*]}" >&2
    echo "install with: apt-get install -y net-tools iproute2 python3" >&2
    exit 1
fi
[ "$(id -u)" -eq 0 ] || { echo "run as root (it creates a network namespace)" >&2; exit 1; }
[ -x "$CONNDOCTOR" ] || { echo "no conndoctor binary at $CONNDOCTOR (build it with scripts/build.sh)" >&2; exit 1; }
for s in "${SIZES[@]}"; do
    [[ "$s" =~ ^[0-9]+$ ]] && [ "$s" -ge 100 ] && [ "$s" -le 300000 ] \
        || { echo "size must be a number between 100 and 300000, got '$s'" >&2; exit 1; }
done

# ---- cleanup, also on Ctrl-C and errors ------------------------------------------------------
NS="cdbench-$$"
FARM_PID=""
WORK=$(mktemp -d /tmp/cdbench.XXXXXX)

stop_farm() {
    if [ -n "$FARM_PID" ]; then
        kill "$FARM_PID" 2>/dev/null || true   # farm.py kills its workers on SIGTERM
        wait "$FARM_PID" 2>/dev/null || true
        FARM_PID=""
    fi
    if ip netns list | grep -qw "^$NS"; then ip netns del "$NS"; fi
}
cleanup() {
    local rc=$?
    stop_farm
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "error: run.sh line $LINENO (in ${FUNCNAME[*]:-main}): $BASH_COMMAND failed" >&2' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

nsx() { ip netns exec "$NS" "$@"; }

# The commands, in timing order; the first is the one the others are compared to.
CMDS=(
    "$CONNDOCTOR sockets --group-by none --json"
    "ss -tanp"
    "netstat -antp"
    "ss -tan"
    "netstat -ant"
)
LABELS=(
    "conndoctor sockets --group-by none --json"
    "ss -tanp"
    "netstat -antp"
    "ss -tan"
    "netstat -ant"
)

PEERS=${PEERS:-1}
if [ "$PEERS" = 0 ]; then CMDS=("${CMDS[0]}"); LABELS=("${LABELS[0]}"); fi
COMPARE=${COMPARE:-}
if [ -n "$COMPARE" ]; then
    [ -x "$COMPARE" ] || { echo "no conndoctor binary at COMPARE=$COMPARE" >&2; exit 1; }
    CMDS+=("$COMPARE sockets --group-by none --json")
    LABELS+=("conndoctor COMPARE (same command)")
fi

# Wall time of one run, in seconds; stdout goes through a pipe like a user's `| less` would.
time_once() {
    local -a argv
    read -ra argv <<<"$1"
    local t0 t1
    t0=$EPOCHREALTIME
    nsx "${argv[@]}" 2>>"$WORK/stderr.log" | cat >/dev/null
    t1=$EPOCHREALTIME
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

median() { sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# "STATE count" lines for the namespace's whole TCP table, as ss names states.
ss_counts() { nsx ss -Htan | awk '{ n[$1]++ } END { for (s in n) print s, n[s] }' | sort; }
count_state() { nsx ss -Htan state "$1" | wc -l; }

# TIME_WAIT sockets die 60 s after they are made; every timed round must end before that.
TW_BUDGET=${TW_BUDGET:-50}
READY_AT=""
TABLES=0

# Builds a fresh namespace and farm of SIZE sockets, waits for READY and checks the counts.
build_table() {
    local size=$1
    # Fresh namespace. Its sysctls are its own: a wide ephemeral range so connect() never runs
    # short, and no TIME_WAIT reuse (the default 2 reuses them on loopback) so they stay put.
    ip netns add "$NS"
    ip -n "$NS" link set lo up
    nsx sysctl -qw net.ipv4.ip_local_port_range="10000 65535" net.ipv4.tcp_tw_reuse=0

    local log="$WORK/farm-$size.log"
    # Not through nsx: `ip netns exec` execs, so $! is farm.py itself and `kill` reaches it.
    ip netns exec "$NS" "$PY" "$HERE/farm.py" --size "$size" --hold 240 >"$log" 2>&1 &
    FARM_PID=$!

    # Wait for READY (or the farm's failure), at most 180 s.
    local waited=0
    until grep -q '^READY' "$log"; do
        if ! kill -0 "$FARM_PID" 2>/dev/null || grep -q '^FAILED' "$log"; then
            echo "farm failed:" >&2; cat "$log" >&2; exit 1
        fi
        [ "$waited" -lt 1800 ] || { echo "farm not ready after 180 s" >&2; cat "$log" >&2; exit 1; }
        sleep 0.1; waited=$((waited + 1))
    done
    READY_AT=$EPOCHREALTIME
    TABLES=$((TABLES + 1))
    local ready; ready=$(grep '^READY' "$log")
    echo "table $TABLES: farm ${ready#READY }"

    # Check the table against what the farm says it made.
    local want_est want_cw want_tw
    want_est=$(sed -E 's/.* est=([0-9]+).*/\1/' <<<"$ready")
    want_cw=$(sed -E 's/.* cw=([0-9]+).*/\1/' <<<"$ready")
    want_tw=$(sed -E 's/.* tw=([0-9]+).*/\1/' <<<"$ready")
    EST=$(count_state established); CW=$(count_state close-wait); TW=$(count_state time-wait)
    FW2=$(count_state fin-wait-2); LIS=$(count_state listening)
    printf 'table %d (ss -tan state ...): ESTAB %d  CLOSE-WAIT %d  TIME-WAIT %d  FIN-WAIT-2 %d  LISTEN %d  total %d\n' \
        "$TABLES" "$EST" "$CW" "$TW" "$FW2" "$LIS" $((EST + CW + TW + FW2 + LIS))
    local pair bad=0
    for pair in "$EST:$want_est" "$CW:$want_cw" "$TW:$want_tw"; do
        # within 2% of the target, or the benchmark is not measuring the table it claims
        awk -v g="${pair%%:*}" -v w="${pair##*:}" 'BEGIN { exit !(g >= 0.98 * w && g <= 1.02 * w) }' || bad=1
    done
    [ "$bad" -eq 0 ] || { echo "table does not match the farm's targets (est $want_est cw $want_cw tw $want_tw)" >&2; exit 1; }
}

# Confirms no TIME_WAIT expired while the table was being timed, then tears it down.
finish_table() {
    local tw_after age
    tw_after=$(count_state time-wait)
    age=$(awk -v a="$READY_AT" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')
    echo "table $TABLES: timed until ${age}s after READY; TIME-WAIT $tw_after (was $TW)"
    if [ "$tw_after" -lt $((TW * 98 / 100)) ]; then
        echo "WARNING: TIME_WAIT sockets expired during timing; lower TW_BUDGET in this script" >&2
    fi
    stop_farm
    settle
}

# Waits (at most ~15 s) until the CPUs are nearly idle: deleting a namespace with 100k sockets
# goes on in kernel workers after `ip netns del` returns, and would slow whatever is timed next.
settle() {
    local i busy
    for ((i = 0; i < 30; i++)); do
        busy=$( { head -1 /proc/stat; sleep 0.5; head -1 /proc/stat; } | awk '
            { idle = $5 + $6; total = 0; for (f = 2; f <= NF; f++) total += $f
              if (NR == 1) { i0 = idle; t0 = total } else { printf "%d", 100 * (1 - (idle - i0) / (total - t0 + 1e-9)) } }')
        [ "$busy" -ge 10 ] || return 0
    done
    echo "note: machine still ${busy}% busy after 15 s; timing anyway" >&2
}

# Sanity: conndoctor's per-state counts must equal ss -tan's on the same table, and it must have
# joined an owner to every ESTAB, CLOSE-WAIT and LISTEN socket (all of them belong to farm
# workers; TIME-WAIT and orphaned FIN-WAIT-2 sockets have no owner).
sanity_check() {
    nsx "$CONNDOCTOR" sockets --group-by none --json >"$WORK/cd.json"
    ss_counts >"$WORK/ss.counts"
    "$PY" - "$WORK/cd.json" "$WORK/ss.counts" $((EST + CW + LIS)) <<'PYEOF'
import json, sys
doc = json.load(open(sys.argv[1]))
ss = {}
for line in open(sys.argv[2]):
    state, n = line.split()
    ss[state] = int(n)
cd = {k: int(v) for k, v in doc["counts"].items()}
owned = sum(1 for s in doc["sockets"] if s.get("owners"))
want_owned = int(sys.argv[3])
ok = cd == ss and owned == want_owned and doc["total"] == sum(ss.values())
show = lambda d: " ".join(f"{k}={d[k]}" for k in sorted(d))
print(f"sanity {'OK' if ok else 'MISMATCH'}: conndoctor counts {show(cd)} (total {doc['total']})")
print(f"{'':>10}ss -tan counts     {show(ss)} (total {sum(ss.values())})")
print(f"{'':>10}sockets with an owner process: conndoctor {owned}, expected {want_owned}")
srcs = ", ".join(f"{s['source']} {s['durationMs']} ms ({s.get('reason', '')})" for s in doc.get("sources", []))
print(f"{'':>10}conndoctor self-timing: {srcs}")
PYEOF
}

# COMPARE mode: each binary's own figure for the sock_diag dump (its "sockets:*" source's durationMs), once a round.
self_time_of() {
    nsx "$1" sockets --group-by none --json 2>>"$WORK/stderr.log" | "$PY" -c '
import json, sys
print(next(s["durationMs"] for s in json.load(sys.stdin)["sources"] if s["source"].startswith("sockets")))'
}
self_times() {
    self_time_of "$CONNDOCTOR" >>"$WORK/self.cd"
    self_time_of "$COMPARE" >>"$WORK/self.compare"
}

SUMMARY=()

bench_size() {
    local size=$1
    echo
    echo "=== size $size ==="
    TABLES=0
    settle   # other work on the machine skews the peers' user-CPU-bound times the most
    build_table "$size"
    sanity_check

    # Time the commands round-robin (one of each per round), so that drift in the machine hits
    # every command alike. A round starts only if it will end within TW_BUDGET of READY (judged
    # by the slowest round so far); otherwise the table is rebuilt first.
    local i r t0 dur slowest=0
    for i in "${!CMDS[@]}"; do : >"$WORK/t.$i"; done
    : >"$WORK/self.cd"; : >"$WORK/self.compare"
    for ((r = 1; r <= ROUNDS; r++)); do
        if awk -v a="$READY_AT" -v n="$EPOCHREALTIME" -v s="$slowest" -v b="$TW_BUDGET" \
            'BEGIN { exit !(n - a + s > b) }'; then
            finish_table
            build_table "$size"
        fi
        t0=$EPOCHREALTIME
        for i in "${!CMDS[@]}"; do
            time_once "${CMDS[$i]}" >>"$WORK/t.$i"
        done
        dur=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')
        [ -z "$COMPARE" ] || self_times
        slowest=$(awk -v d="$dur" -v s="$slowest" 'BEGIN { print (d > s ? d : s) }')
        echo "round $r: ${dur}s"
    done
    finish_table

    local base; base=$(median "$WORK/t.0")
    printf '\n%-44s %10s %12s   %s\n' "command (size $size)" "median s" "peer/cd" "all runs (s)"
    for i in "${!CMDS[@]}"; do
        local med ratio runs
        med=$(median "$WORK/t.$i")
        runs=$(tr '\n' ' ' <"$WORK/t.$i")
        case "${LABELS[$i]}" in
            "ss -tanp" | "netstat -antp" | "conndoctor COMPARE"*) ratio=$(awk -v p="$med" -v c="$base" 'BEGIN { printf "%.2fx", p / c }') ;;
            *) ratio="-" ;;
        esac
        printf '%-44s %10s %12s   %s\n' "${LABELS[$i]}" "$med" "$ratio" "$runs"
        SUMMARY+=("$size|${LABELS[$i]}|$med|$ratio")
    done
    if [ -n "$COMPARE" ]; then
        printf 'own socket-dump time (ms, median; all): conndoctor %s (%s)  COMPARE %s (%s)\n' \
            "$(median "$WORK/self.cd")" "$(tr '\n' ' ' <"$WORK/self.cd")" "$(median "$WORK/self.compare")" "$(tr '\n' ' ' <"$WORK/self.compare")"
    fi
    if [ "$size" -ge 100000 ] && [ "$PEERS" != 0 ]; then
        local ss_p ns_p
        ss_p=$(median "$WORK/t.1"); ns_p=$(median "$WORK/t.2")
        if awk -v c="$base" -v a="$ss_p" -v b="$ns_p" 'BEGIN { exit !(a >= 4 * c && b >= 4 * c) }'; then
            echo "target at $size (>= 4x faster than ss -tanp and netstat -antp): MET"
        else
            echo "target at $size (>= 4x faster than ss -tanp and netstat -antp): NOT MET"
        fi
    fi
}

echo "conndoctor: $CONNDOCTOR ($("$CONNDOCTOR" --version 2>/dev/null | head -1))"
[ -z "$COMPARE" ] || echo "COMPARE: $COMPARE ($("$COMPARE" --version 2>/dev/null | head -1))"
echo "$(nproc) cores, kernel $(uname -r), $(ss -V 2>&1 | head -1), netstat $(netstat -V 2>&1 | head -1 | awk '{print $2}'), rounds $ROUNDS, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for size in "${SIZES[@]}"; do
    bench_size "$size"
done

echo
echo "summary (median wall seconds; peer/cd = peer time / conndoctor time)"
printf '%-8s %-44s %10s %10s\n' size command median peer/cd
for row in "${SUMMARY[@]}"; do
    IFS='|' read -r s c m q <<<"$row"
    printf '%-8s %-44s %10s %10s\n' "$s" "$c" "$m" "$q"
done
