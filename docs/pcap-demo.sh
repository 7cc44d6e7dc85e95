#!/usr/bin/env bash
# Records the capture docs/pcap.md shows: two "nodes" in network namespaces joined by a veth pair (the underlay,
# 10.88.0.1 and 10.88.0.2) and a kernel VXLAN overlay between them on Flannel's port 8472 (pod addresses
# 10.244.1.10 and 10.244.2.20), captured on the client node's underlay interface, as one would on a Kubernetes
# node. The client pod talks to servers on 10.244.2.20:
#   :2181  a ZooKeeper stand-in that accepts and closes at once (as 3.8 does at maxClientCnxns); the client
#          reconnects 300 times
#   :8080  an HTTP-like server sending 8 MB answers; the client reads the first 100 bytes five times and closes
#   :8081  a server answering each request with 20 KB; the client reads 100 bytes of it three times and closes
#          (the rest has arrived and been acknowledged: unread, but the wire cannot prove it)
#   :9300  nothing listens; three connects are refused
#   :3306  a healthy request/response pool beside them
# Usage: docs/pcap-demo.sh [FILE]  (default /tmp/pcap-demo.pcap). Root, tcpdump; bounded, cleans up after itself.
set -euo pipefail
S="$(cd "$(dirname "$0")/.." && pwd)/tests/ConnDoctor.Tests/helpers/scenario.py"
out=${1:-/tmp/pcap-demo.pcap}
c=pdemo-client s=pdemo-server
cleanup() { kill ${pids:-} 2>/dev/null || true; ip netns del $c 2>/dev/null || true; ip netns del $s 2>/dev/null || true; }
trap cleanup EXIT
cleanup
ip netns add $c; ip netns add $s
ip link add pva netns $c type veth peer name pvb netns $s
ip -n $c addr add 10.88.0.1/24 dev pva; ip -n $s addr add 10.88.0.2/24 dev pvb
ip -n $c link set pva up; ip -n $s link set pvb up
ip -n $c link add vx0 type vxlan id 1 local 10.88.0.1 remote 10.88.0.2 dev pva dstport 8472
ip -n $s link add vx0 type vxlan id 1 local 10.88.0.2 remote 10.88.0.1 dev pvb dstport 8472
ip -n $c addr add 10.244.1.10/16 dev vx0; ip -n $s addr add 10.244.2.20/16 dev vx0
ip -n $c link set vx0 mtu 1450 up; ip -n $s link set vx0 mtu 1450 up
ip netns exec $c tcpdump -i pva -s 200 --immediate-mode -U -Z root -w "$out" 2>/dev/null & td=$!
pids="$td"
sleep 1
run() { ip netns exec "$1" timeout 60 /usr/bin/python3 "$S" "${@:2}" --lifetime 0.2 >/dev/null; }
ip netns exec $s timeout 60 /usr/bin/python3 "$S" server --listen 10.244.2.20:2181:close --listen 10.244.2.20:3306:hold --listen 10.244.2.20:8081:reply --bytes 20000 --lifetime 60 >/dev/null & pids="$pids $!"
ip netns exec $s timeout 60 /usr/bin/python3 "$S" bulk --listen 10.244.2.20:8080 --bytes 8388608 --lifetime 60 >/dev/null & pids="$pids $!"
sleep 2
run $c chat --connect 10.244.2.20:3306 --count 4 --cycles 25
run $c peek --connect 10.244.2.20:8080 --read 100 --count 5
run $c fetch --connect 10.244.2.20:8081 --read 100 --count 3
run $c refused --connect 10.244.2.20:9300 --count 3
run $c good --connect 10.244.2.20:3306 --count 1 --churn 10.244.2.20:2181 --cycles 300 --wait-eof
sleep 1
kill -INT $td; wait $td || true
echo "wrote $out"
