#!/usr/bin/env bash
# Benchmark: the sock_diag dump alone (bench/sockets/DumpBench: NetlinkSocketDump.Dump for IPv4 and IPv6, every
# state, with tcp_info, no process join) against `ss -tani` (the peer that dumps the same table with tcp_info) on
# bench/sockets/farm.py's table. With BASE_TREE=DIR (another checkout, e.g. main's in a temporary worktree) the same
# DumpBench is also built against that tree and both run alternately on each table: a change to the dump loop
# measured before and after on the same machine state.
#
# Usage: bench/sockets/dump.sh [SIZE]          (default 100000; needs root, the .NET SDK, python3, iproute2)
# Env:   ROUNDS=15   dumps per DumpBench run (median and fastest reported); `ss -tani` runs 5 times per table
#        TABLES=5    fresh tables (each its own namespace; TIME_WAITs live 60 s), one run of each per table
#        BASE_TREE=DIR
set -Eeuo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SIZE=${1:-100000}
ROUNDS=${ROUNDS:-15}
TABLES=${TABLES:-5}
BASE_TREE=${BASE_TREE:-}
[ "$(id -u)" -eq 0 ] || { echo "run as root (it creates a network namespace)" >&2; exit 1; }
for t in ip ss dotnet; do command -v $t >/dev/null || { echo "missing: $t" >&2; exit 1; }; done
[ -z "$BASE_TREE" ] || [ -f "$BASE_TREE/src/ConnDoctor/ConnDoctor.csproj" ] || { echo "BASE_TREE=$BASE_TREE has no src/ConnDoctor" >&2; exit 1; }

NS="cdbenchdump-$$"
WORK=$(mktemp -d /tmp/cdbenchdump.XXXXXX)
FARM_PID=""
stop_farm() {
    if [ -n "$FARM_PID" ]; then kill "$FARM_PID" 2>/dev/null || true; wait "$FARM_PID" 2>/dev/null || true; FARM_PID=""; fi
    if ip netns list | grep -qw "^$NS"; then ip netns del "$NS"; fi
}
cleanup() { local rc=$?; stop_farm; rm -rf "$WORK"; exit "$rc"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
nsx() { ip netns exec "$NS" "$@"; }
. "$HERE/farm.sh"
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "building DumpBench (Release) against $ROOT${BASE_TREE:+ and $BASE_TREE}"
dotnet build "$HERE/DumpBench/DumpBench.csproj" -c Release -nologo -v quiet -o "$WORK/cur" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log" >&2; exit 1; }
if [ -n "$BASE_TREE" ]; then
    # A copy of the bench project of its own (its obj/ must not be shared), pointed at the other tree's library.
    mkdir -p "$WORK/basesrc" && cp "$HERE/DumpBench/Program.cs" "$HERE/DumpBench/DumpBench.csproj" "$ROOT/Directory.Build.props" "$WORK/basesrc/"
    dotnet build "$WORK/basesrc/DumpBench.csproj" -c Release -nologo -v quiet -p:ConnDoctorTree="$(cd "$BASE_TREE" && pwd)" -o "$WORK/base" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log" >&2; exit 1; }
fi

echo "$(nproc) cores, kernel $(uname -r), $(ss -V 2>&1 | head -1), size $SIZE, $TABLES tables, $ROUNDS dumps a run, load average $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$WORK/cur.med"; : >"$WORK/base.med"; : >"$WORK/ss.med"
for ((t = 1; t <= TABLES; t++)); do
    farm_start "$NS" "$SIZE" 120 "$WORK/farm.log"
    cur=$(nsx dotnet "$WORK/cur/DumpBench.dll" "$ROUNDS")
    echo "table $t: this tree   $cur"
    awk '{ print $2 }' <<<"$cur" >>"$WORK/cur.med"
    if [ -n "$BASE_TREE" ]; then
        base=$(nsx dotnet "$WORK/base/DumpBench.dll" "$ROUNDS")
        echo "table $t: BASE_TREE   $base"
        awk '{ print $2 }' <<<"$base" >>"$WORK/base.med"
    fi
    : >"$WORK/ss.t"
    for _ in 1 2 3 4 5; do
        t0=$EPOCHREALTIME; nsx ss -tani | cat >/dev/null; t1=$EPOCHREALTIME
        awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", (b - a) * 1000 }' >>"$WORK/ss.t"
    done
    echo "table $t: ss -tani    median $(median <"$WORK/ss.t") ms ($(tr '\n' ' ' <"$WORK/ss.t"))"
    median <"$WORK/ss.t" >>"$WORK/ss.med"
    stop_farm
done
c=$(median <"$WORK/cur.med"); s=$(median <"$WORK/ss.med")
echo
echo "median of the tables' medians: this tree $c ms, ss -tani $s ms (ss/this $(awk -v a="$s" -v b="$c" 'BEGIN { printf "%.2fx", a / b }'))"
if [ -n "$BASE_TREE" ]; then
    b=$(median <"$WORK/base.med")
    echo "BASE_TREE $b ms: this tree / BASE_TREE = $(awk -v a="$c" -v b="$b" 'BEGIN { printf "%.3f", a / b }') (below 1: faster)"
fi
