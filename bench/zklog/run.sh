#!/usr/bin/env bash
# Benchmark: `conndoctor zklog --json` on a large ZooKeeper 3.4 server log, against
# `rg -c 'end of stream'` (one literal, the fastest count there is), an awk pipeline that
# counts accepted connections per IP (mawk and gawk), and `cat` (reading the file at all).
#
# Usage: bench/zklog/run.sh [SIZE_MB]          (default 2048 = 2 GiB)
# Env:   CONNDOCTOR=path  binary to time (default artifacts/conndoctor)
#        ROUNDS=5         timed runs per command; the median is reported
#        OUT=dir          where the log is kept (default bench/out/zklog, git-ignored)
#        IDLE_WAIT=120    seconds to wait, before each timed run, for the machine to be quiet (0: don't)
#        LAYOUTS="kafka"  other layouts to time conndoctor on (relayout.py: kafka strimzi cloudera logback
#                         compose kubectl json; "" for none): the same log rewritten line for line, whose per-IP
#                         answer must equal the stock layout's; the target is within 1.5x of the stock time
#
# The log (gen.py) is generated once and reused while its truth file says it has the asked
# size. Every command reads the same file from a warm page cache, output to a pipe.
set -Eeuo pipefail
export LC_ALL=C   # $EPOCHREALTIME and printf must use '.' as the decimal point; awk/sort byte order

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CONNDOCTOR=${CONNDOCTOR:-$ROOT/artifacts/conndoctor}
ROUNDS=${ROUNDS:-5}
IDLE_WAIT=${IDLE_WAIT:-120}
OUT=${OUT:-$ROOT/bench/out/zklog}
SIZE_MB=${1:-2048}
LAYOUTS=${LAYOUTS-kafka}
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=python3; fi

# ---- preflight: report what is missing, install nothing -------------------------------------
[[ "$SIZE_MB" =~ ^[0-9]+$ ]] && [ "$SIZE_MB" -ge 1 ] || { echo "SIZE_MB must be a whole number of MiB, got '$SIZE_MB'" >&2; exit 1; }
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ && "$IDLE_WAIT" =~ ^[0-9]+$ ]] || { echo "ROUNDS must be >= 1 and IDLE_WAIT a number of seconds" >&2; exit 1; }
missing=()
command -v rg >/dev/null || missing+=("rg (ripgrep)")
command -v mawk >/dev/null || missing+=("mawk")
command -v gawk >/dev/null || missing+=("gawk")
[ -x /usr/bin/time ] || missing+=("/usr/bin/time (time)")
command -v "$PY" >/dev/null || missing+=("python3")
if [ ${#missing[@]} -gt 0 ]; then
    echo "missing: ${missing[*]}" >&2
    echo "install with: apt-get install -y ripgrep mawk gawk time python3" >&2
    exit 1
fi
[ -x "$CONNDOCTOR" ] || { echo "no conndoctor binary at $CONNDOCTOR (build it with scripts/build.sh)" >&2; exit 1; }

mkdir -p "$OUT"
LOG="$OUT/zookeeper-${SIZE_MB}m.log"
TRUTH="$LOG.truth.json"
WORK=$(mktemp -d /tmp/zklogbench.XXXXXX)   # this run's outputs; the log itself stays in $OUT
trap 'rm -rf "$WORK"' EXIT
trap 'echo "error: run.sh line $LINENO: $BASH_COMMAND failed" >&2' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the log: reuse it if its truth file says it is the asked size and it still is -----------
want=$((SIZE_MB * 1024 * 1024))
reusable() {
    [ -f "$LOG" ] && [ -f "$TRUTH" ] && "$PY" - "$TRUTH" "$want" "$(stat -c %s "$LOG")" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))
sys.exit(0 if t["target_bytes"] == int(sys.argv[2]) and t["bytes"] == int(sys.argv[3]) else 1)
EOF
}
if reusable; then
    echo "reusing $LOG"
else
    rm -f "$LOG" "$TRUTH"
    # Room for the log plus 1 GiB to spare, so the benchmark never fills the disk.
    free_kb=$(df -Pk "$OUT" | awk 'NR == 2 { print $4 }')
    if [ $((free_kb / 1024)) -lt $((SIZE_MB + 1024)) ]; then
        echo "not enough disk in $OUT: $((free_kb / 1024)) MiB free, need $((SIZE_MB + 1024))" >&2; exit 1
    fi
    echo "generating $LOG ($SIZE_MB MiB) ..."
    "$PY" "$HERE/gen.py" "$LOG" --size-mb "$SIZE_MB" 2> "$WORK/gen.err" || { cat "$WORK/gen.err" >&2; exit 1; }
    grep -v '^  [0-9][0-9]:00 ' "$WORK/gen.err"   # its summary, without the hourly progress
fi

# ---- the same log in other layouts (rewritten once, reused while newer than the log) ---------
for layout in $LAYOUTS; do
    other="$OUT/zookeeper-${SIZE_MB}m.$layout.log"
    if [ ! -f "$other" ] || [ "$other" -ot "$LOG" ] || [ "$other" -ot "$HERE/relayout.py" ]; then
        echo "rewriting the log in the $layout layout ..."
        "$PY" "$HERE/relayout.py" "$LOG" "$other.tmp" "$layout" && mv "$other.tmp" "$other"
    fi
done

# ---- warm the page cache: every command below must read memory, not disk -------------------
avail_mb=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
if [ "$avail_mb" -lt $((SIZE_MB + 512)) ]; then
    echo "warning: only $avail_mb MiB of memory available for a $SIZE_MB MiB log: the page cache may not hold it, times will include disk reads" >&2
fi
# The page cache does not keep a cold file here: the machine reclaims pages unused for about a
# minute (DAMON pageout), so a wait below can evict the log. Before each run the log is made
# resident again, and the sectors read from its disk during the run are recorded.
dev=$(stat -c %d "$LOG")
DEVSTAT=/sys/dev/block/$(( (dev >> 8) & 0xfff )):$(( (dev & 0xff) | ((dev >> 12) & 0xfff00) ))/stat
disk_read() {      # DR = sectors (512 B) read from the log's disk so far; 0 if unknown
    local f
    DR=0
    if [ -r "$DEVSTAT" ]; then read -r -a f < "$DEVSTAT"; DR=${f[2]}; fi
}
# A log that is only partly resident is dropped from the cache first and read back whole: pages faulted back
# in one by one after a pageout sit in small (4 KiB) folios, which makes every mapping reader (rg, conndoctor)
# several times slower than the same file read back in one go into large folios (FileHugePages in /proc/meminfo).
refill() {
    "$PY" -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$LOG"
    cat "$LOG" > /dev/null
}
ensure_warm() {
    if ! command -v fincore >/dev/null || [ "$(fincore -b -n -o RES "$LOG")" -lt "$(stat -c %s "$LOG")" ]; then refill; fi
}
refill
ensure_warm
if command -v fincore >/dev/null; then
    echo "page cache: $(fincore -b -n -o RES,SIZE "$LOG" | awk '{ printf "%.1f%% of the file resident", 100 * $1 / $2 }')"
fi

# ---- what is measured ------------------------------------------------------------------------
echo
echo "machine:    $(nproc) cores, $(uname -r), $(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "conndoctor: $("$CONNDOCTOR" --version) ($CONNDOCTOR)"
echo "tools:      $(rg --version | sed -n 1p), $(mawk -W version 2>&1 | sed -n 1p), $(gawk --version | sed -n 1p | cut -d, -f1)"
echo "log:        $LOG, $(stat -c %s "$LOG") bytes"
echo "rounds:     $ROUNDS, round-robin; each run is CMD | cat > /dev/null"
echo "load:       $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
echo "page cache: $(awk '/^FileHugePages:/ { printf "%.0f MiB", $2 / 1024 }' /proc/meminfo) of file data in large folios (FileHugePages)"
# conndoctor uses both cores, the others one: anything else running skews the ratios.
if awk '{ exit !($1 >= 0.5) }' /proc/loadavg; then
    echo "warning: the machine is not idle (load average $(cut -d' ' -f1 /proc/loadavg)): times will be noisy" >&2
fi
echo

# The awk pipeline a person would write: accepted connections per client IP, top 10.
AWK_PROG='/Accepted socket connection from/ { split($NF, a, ":"); c[a[1]]++ } END { for (i in c) print c[i], i }'
# label <TAB> command; the labels are what report.py looks for.
CMDS=(
    "cat > /dev/null	cat '$LOG' > /dev/null"
    "cat | cat	cat '$LOG'"
    "rg -c 'end of stream'	rg -c 'end of stream' '$LOG'"
    "mawk per-IP pipeline	mawk '$AWK_PROG' '$LOG' | sort -rn | head"
    "gawk per-IP pipeline	gawk '$AWK_PROG' '$LOG' | sort -rn | head"
    "conndoctor zklog --json	'$CONNDOCTOR' zklog --json '$LOG'"
    "conndoctor zklog (text)	'$CONNDOCTOR' zklog '$LOG'"
)
for layout in $LAYOUTS; do CMDS+=("conndoctor zklog --json ($layout layout)	'$CONNDOCTOR' zklog --json '$OUT/zookeeper-${SIZE_MB}m.$layout.log'"); done

# ---- correctness: conndoctor's per-IP counts against awk's and the generator's ----------------
"$CONNDOCTOR" zklog --json "$LOG" > "$WORK/conndoctor.json"
mawk "$AWK_PROG" "$LOG" > "$WORK/awk.txt"     # every IP, not just the top 10
for layout in $LAYOUTS; do
    "$CONNDOCTOR" zklog --json "$OUT/zookeeper-${SIZE_MB}m.$layout.log" > "$WORK/conndoctor.$layout.json"
    "$PY" - "$WORK/conndoctor.json" "$WORK/conndoctor.$layout.json" "$layout" <<'EOF2'
import json, sys
def table(p):
    d = json.load(open(p))
    return [{k: v for k, v in c.items() if k not in ("firstSeen", "lastSeen")} for c in d["clients"]], d["layouts"][0]["layout"]
(a, _), (b, name) = table(sys.argv[1]), table(sys.argv[2])
print("check: %s layout (read as '%s'): per-IP table %s the stock layout's (%d IPs)" % (sys.argv[3], name, "=" if a == b else "DIFFERS from", len(a)))
EOF2
done

# From here on a pipeline's status is its last command's: in `sort | head`, sort may die of
# SIGPIPE when head has its 10 lines, which is normal. Failures showed up in the runs above.
set +o pipefail

# ---- CPU and peak resident memory, one run each under /usr/bin/time ---------------------------
# Peak RSS (ru_maxrss) counts every page the process touched, file pages of a mapped file too:
# rg maps the whole file, so its RSS grows with the file; a reader that maps bounded windows or
# preads into buffers counts only those.
: > "$WORK/rusage.tsv"
for entry in "${CMDS[@]}"; do
    label=${entry%%	*}; cmd=${entry#*	}
    ensure_warm
    # %e wall s, %U user s, %S sys s, %M peak RSS KiB (of the largest process in a pipeline)
    /usr/bin/time -o "$WORK/t" -f '%e	%U	%S	%M' bash -c "$cmd" | cat > /dev/null
    printf '%s\t%s\n' "$label" "$(tail -1 "$WORK/t")" >> "$WORK/rusage.tsv"
done

# ---- timing: ROUNDS rounds, one run of every command per round --------------------------------
# Other work on the machine (a build on the other core) skews times, so each run also records
# the CPU time others used meanwhile: the machine's busy ticks (/proc/stat) minus this shell's
# reaped children's (/proc/$$/stat cutime + cstime), both read with builtins, no fork.
machine_busy() {   # MB = all CPUs' user+nice+system+irq+softirq+steal ticks
    local _cpu user nice system idle iowait irq softirq steal
    read -r _cpu user nice system idle iowait irq softirq steal _ < /proc/stat
    MB=$((user + nice + system + irq + softirq + steal))
}
own_children() {   # OC = ticks used by this shell's waited-for children
    local st
    read -r -a st < /proc/$$/stat    # comm is "(bash)", no spaces: fields split cleanly
    OC=$((st[15] + st[16]))
}
TICK=$(getconf CLK_TCK)
# On a shared machine, wait (up to IDLE_WAIT s per run) for a half second in which others use
# under 10% of a core before each run; a run that overlaps other work anyway is marked busy.
wait_quiet() {
    local waited=0 m0
    while [ "$waited" -lt $((IDLE_WAIT * 2)) ]; do
        machine_busy; m0=$MB
        sleep 0.5
        machine_busy
        [ $((MB - m0)) -le $((TICK / 20)) ] && return 0
        waited=$((waited + 1))
    done
}
: > "$WORK/times.tsv"
for ((round = 1; round <= ROUNDS; round++)); do
    for entry in "${CMDS[@]}"; do
        label=${entry%%	*}; cmd=${entry#*	}
        wait_quiet
        ensure_warm
        machine_busy; own_children; disk_read; m0=$MB; c0=$OC; d0=$DR
        t0=$EPOCHREALTIME
        eval "$cmd" | cat > /dev/null
        t1=$EPOCHREALTIME
        machine_busy; own_children; disk_read; m1=$MB; c1=$OC; d1=$DR
        # label, wall s, CPU s used by others meanwhile, MiB read from disk meanwhile
        printf '%s\t%s\t%s\t%s\n' "$label" \
            "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" \
            "$(awk -v o=$(( (m1 - m0) - (c1 - c0) )) -v hz="$TICK" 'BEGIN { printf "%.2f", (o < 0 ? 0 : o) / hz }')" \
            "$(( (d1 - d0) / 2048 ))" >> "$WORK/times.tsv"
    done
    echo "round $round/$ROUNDS done" >&2
done

"$PY" "$HERE/report.py" --times "$WORK/times.tsv" --rusage "$WORK/rusage.tsv" --truth "$TRUTH" \
    --conndoctor "$WORK/conndoctor.json" --awk "$WORK/awk.txt"
echo
echo "log kept for reuse: $LOG (and $TRUTH)"
