#!/usr/bin/env bash
# A/B: two conndoctor builds' `zklog --json` on the same log (the one run.sh generates), run interleaved
# (A, B, rg -c, A, B, rg -c, ...) so that a slow stretch of a shared machine hits all three alike. Prints each
# command's median wall and CPU time (user+sys), B/A and each against `rg -c 'end of stream'`. Checks first that
# both builds give the same answer (the fields both write).
#
# Usage: bench/zklog/ab.sh BINARY_A BINARY_B [SIZE_MB]    (default 2048; the log must exist: bench/zklog/run.sh SIZE_MB)
# Env:   ROUNDS=11  interleaved rounds;  OUT=dir  where run.sh keeps the log (default bench/out/zklog)
set -Eeuo pipefail
export LC_ALL=C
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
A=${1:?usage: ab.sh BINARY_A BINARY_B [SIZE_MB]}; B=${2:?usage: ab.sh BINARY_A BINARY_B [SIZE_MB]}
SIZE_MB=${3:-2048}
ROUNDS=${ROUNDS:-11}
OUT=${OUT:-$ROOT/bench/out/zklog}
LOG="$OUT/zookeeper-${SIZE_MB}m.log"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS must be >= 1" >&2; exit 1; }
for x in "$A" "$B"; do [ -x "$x" ] || { echo "no binary at $x" >&2; exit 1; }; done
[ -f "$LOG" ] || { echo "no log at $LOG: generate it with bench/zklog/run.sh $SIZE_MB" >&2; exit 1; }
command -v rg >/dev/null && [ -x /usr/bin/time ] || { echo "needs rg and /usr/bin/time: apt-get install -y ripgrep time" >&2; exit 1; }
WORK=$(mktemp -d /tmp/zklogab.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# As run.sh: the log dropped from the page cache and read back whole (large folios; pages faulted back one by one
# after a pageout make every mapping reader several times slower), and again whenever part of it was evicted.
refill() {
    python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$LOG"
    cat "$LOG" > /dev/null
}
ensure_warm() {
    if ! command -v fincore >/dev/null || [ "$(fincore -b -n -o RES "$LOG")" -lt "$(stat -c %s "$LOG")" ]; then refill; fi
}
refill
echo "A:    $("$A" --version) ($A)"
echo "B:    $("$B" --version) ($B)"
echo "log:  $LOG, $(stat -c %s "$LOG") bytes; $ROUNDS rounds; load $(cut -d' ' -f1-3 /proc/loadavg); $(awk '/^FileHugePages:/ { printf "%.0f MiB", $2 / 1024 }' /proc/meminfo) of file data in large folios"
# Same answers: every field both write is equal (a field one build added is named, not compared).
"$A" zklog --json "$LOG" > "$WORK/a.json"
"$B" zklog --json "$LOG" > "$WORK/b.json"
python3 - "$WORK/a.json" "$WORK/b.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
added = set()
def both(x, y, path=""):   # x and y with only the fields both have (a field one build added is left out, and named)
    if isinstance(x, dict) and isinstance(y, dict):
        added.update(path + "." + k for k in set(x) ^ set(y))
        keys = [k for k in x if k in y]
        return {k: both(x[k], y[k], path + "." + k)[0] for k in keys}, {k: both(x[k], y[k], path + "." + k)[1] for k in keys}
    if isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
        pairs = [both(i, j, path + "[]") for i, j in zip(x, y)]
        return [p[0] for p in pairs], [p[1] for p in pairs]
    return x, y
skip = ("collectedAt", "sources")
a2, b2 = both({k: v for k, v in a.items() if k not in skip}, {k: v for k, v in b.items() if k not in skip})
print("check: B's answer %s A's (%d clients)%s" % ("=" if a2 == b2 else "DIFFERS from", len(a["clients"]),
      "; fields only one writes: " + ", ".join(sorted(added)) if added else ""))
sys.exit(0 if a2 == b2 else 1)
PY
: > "$WORK/t.tsv"
run() {   # label cmd...
    local label=$1; shift
    /usr/bin/time -o "$WORK/one" -f '%e %U %S' "$@" > /dev/null
    printf '%s %s\n' "$label" "$(tail -1 "$WORK/one")" >> "$WORK/t.tsv"
}
for ((i = 1; i <= ROUNDS; i++)); do
    ensure_warm
    if ((i % 2)); then run A "$A" zklog --json "$LOG"; run B "$B" zklog --json "$LOG"
    else run B "$B" zklog --json "$LOG"; run A "$A" zklog --json "$LOG"; fi   # alternate: no build always goes first
    run rg rg -c 'end of stream' "$LOG"
done
python3 - "$WORK/t.tsv" <<'PY'
import sys, statistics as st
rows = {}
for line in open(sys.argv[1]):
    k, wall, user, sys_ = line.split()
    rows.setdefault(k, []).append((float(wall), float(user) + float(sys_)))
med = {k: (st.median(w for w, _ in v), st.median(c for _, c in v)) for k, v in rows.items()}
low = {k: (min(w for w, _ in v), min(c for _, c in v)) for k, v in rows.items()}   # the least disturbed run
print("%-4s %8s %8s %8s %8s   %s" % ("", "wall s", "CPU s", "min wall", "min CPU", "wall runs"))
for k in ("A", "B", "rg"):
    print("%-4s %8.3f %8.3f %8.3f %8.3f   %s" % (k, med[k][0], med[k][1], low[k][0], low[k][1], " ".join("%.3f" % w for w, _ in rows[k])))
print("B / A:  wall %.3fx, CPU %.3fx (medians); min wall %.3fx, min CPU %.3fx" % (
    med["B"][0] / med["A"][0], med["B"][1] / med["A"][1], low["B"][0] / low["A"][0], low["B"][1] / low["A"][1]))
print("A / rg: wall %.2fx;  B / rg: wall %.2fx (medians; target <= 3x); mins %.2fx, %.2fx" % (
    med["A"][0] / med["rg"][0], med["B"][0] / med["rg"][0], low["A"][0] / low["rg"][0], low["B"][0] / low["rg"][0]))
PY
