# Sourced by bench scripts: farm_start NS SIZE HOLD LOG makes network namespace NS (lo up, a wide ephemeral port range,
# no TIME_WAIT reuse), starts bench/sockets/farm.py --size SIZE --hold HOLD in it (its output to LOG, its pid in
# FARM_PID) and waits up to 180 s for READY; on the farm's failure it prints the log and exits 1.
farm_start() {
    local ns=$1 size=$2 hold=$3 log=$4 here py
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    if [ -x /usr/bin/python3 ]; then py=/usr/bin/python3; else py=python3; fi
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="10000 65535" net.ipv4.tcp_tw_reuse=0
    ip netns exec "$ns" "$py" "$here/farm.py" --size "$size" --hold "$hold" >"$log" 2>&1 &
    FARM_PID=$!
    local waited
    for ((waited = 0; waited < 1800; waited++)); do
        if grep -q '^READY' "$log"; then return 0; fi
        if grep -q '^FAILED' "$log" || ! kill -0 "$FARM_PID" 2>/dev/null; then cat "$log" >&2; exit 1; fi
        sleep 0.1
    done
    echo "farm not ready after 180 s" >&2; cat "$log" >&2; exit 1
}
