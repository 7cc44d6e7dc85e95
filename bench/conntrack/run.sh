#!/usr/bin/env bash
# bench/conntrack: read a conntrack table of N entries (default 100000) with ConnDoctor's ctnetlink reader and its
# /proc/net/nf_conntrack fallback, and with `conntrack -L` and `cat` on the same table; prints medians and ratios.
# The table is made with `conntrack -R` (a batch of `-I` inserts) in a fresh network namespace, removed at the end.
# Usage: bench/conntrack/run.sh [N] (as root; needs conntrack-tools, python3, the .NET SDK). ROUNDS=5.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "run as root (namespaces, conntrack)" >&2; exit 1; }
N=${1:-100000}
[ "$N" -ge 100 ] && [ "$N" -le 200000 ] || { echo "N between 100 and 200000" >&2; exit 1; }
work=$(mktemp -d)
ns=cdct-$$
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
dotnet build bench/conntrack/ConntrackBench -c Release -nologo -v quiet -o "$work/bin" >/dev/null
ip netns add "$ns"
# A node's table: pods 10.244.x.y masqueraded to 192.168.77.1, 60% ESTABLISHED and 30% TIME_WAIT towards ZooKeeper
# (2181) on one of several servers 192.168.77.2-9 (one node address has ~64k ports per server), 10% towards 443.
python3 - "$N" > "$work/entries" <<'PY'
import sys
n = int(sys.argv[1])
for i in range(n):
    pod = f"10.244.{(i // 250) % 250}.{i % 250 + 1}"
    sport = 10000 + (i % 50000)
    port, state, timeout = (2181, "ESTABLISHED", 432000) if i % 10 < 6 else (2181, "TIME_WAIT", 120) if i % 10 < 9 else (443, "ESTABLISHED", 432000)
    nport = 10000 + ((i * 7919) % 50000)
    server = f"192.168.77.{2 + i // 50000}"
    print(f"-I -p tcp -s {pod} -d {server} --sport {sport} --dport {port} -r {server} -q 192.168.77.1 "
          f"--reply-port-src {port} --reply-port-dst {nport} --state {state} --timeout {timeout} -u SEEN_REPLY,ASSURED")
PY
start=$(date +%s.%N)
ip netns exec "$ns" conntrack -R "$work/entries" 2>"$work/insert.err" || true
have=$(ip netns exec "$ns" conntrack -C)
echo "conntrack table in netns $ns: $have entries (asked $N; inserted in $(echo "$(date +%s.%N) - $start" | bc) s), $(nproc) CPU(s), kernel $(uname -r)"
[ "$have" -ge $((N * 9 / 10)) ] || { echo "only $have entries inserted: $(head -3 "$work/insert.err")" >&2; exit 1; }
ip netns exec "$ns" "$work/bin/ConntrackBench" "${ROUNDS:-5}"
