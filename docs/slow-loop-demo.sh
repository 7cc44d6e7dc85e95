#!/usr/bin/env bash
# A slow reconnect loop, a TCP health check and a healthy client against a real ZooKeeper (Debian's 3.8), seen by
# `zklog` (the server's log), `pcap` (a capture on lo) and `watch` (tracepoints). Run as root on a test machine:
#   docs/slow-loop-demo.sh [OUTDIR]
# Clients (each its own process, so watch gives each its own row; each from its own loopback address):
#   127.0.0.2  connects and hangs up before any session, then waits a random 0.2-1.2 s, 40 times (a client whose
#              session setup fails, backing off with jitter as the ZooKeeper Java client does)
#   127.0.0.3  connects and closes every 2 s on a fixed schedule, 22 times (a Kubernetes tcpSocket probe)
#   127.0.0.4  one kazoo session held for the whole run (a healthy client)
# Everything is bounded: fixed counts, timeouts, and the server is stopped at the end.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CD=${CONNDOCTOR:-$ROOT/artifacts/conndoctor}
OUT=${1:-$(mktemp -d /tmp/slowloop.XXXXXX)}
PORT=${PORT:-21811}
mkdir -p "$OUT/data"
cat > "$OUT/zoo.cfg" <<EOF
tickTime=2000
dataDir=$OUT/data
clientPort=$PORT
clientPortAddress=127.0.0.1
4lw.commands.whitelist=srvr,ruok
admin.enableServer=false
EOF
cat > "$OUT/log4j.properties" <<EOF
log4j.rootLogger=INFO, F
log4j.appender.F=org.apache.log4j.FileAppender
log4j.appender.F.File=$OUT/zookeeper.log
log4j.appender.F.layout=org.apache.log4j.PatternLayout
log4j.appender.F.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n
EOF
java -Xmx96m -XX:+UseSerialGC -cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar \
    -Dlog4j.configuration=file:"$OUT/log4j.properties" org.apache.zookeeper.server.quorum.QuorumPeerMain "$OUT/zoo.cfg" >"$OUT/java.out" 2>&1 &
ZK=$!
PIDS=()
cleanup() { kill "${PIDS[@]}" ${TCPDUMP:-} ${WATCH:-} 2>/dev/null || true; kill "$ZK" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 60); do
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT && printf srvr >&3 && cat <&3" 2>/dev/null | grep -q Mode && break
    sleep 0.5
done

timeout 70 tcpdump -i lo -s 128 -U -w "$OUT/loop.pcap" "tcp port $PORT" 2>/dev/null & TCPDUMP=$!
sleep 1
"$CD" watch --duration 50s --remote "127.0.0.1:$PORT" >"$OUT/watch.txt" 2>&1 & WATCH=$!
sleep 2

timeout 60 /usr/bin/python3 - "$PORT" <<'EOF' & PIDS+=($!)
import random, socket, sys, time
port = int(sys.argv[1]); random.seed(18)
for _ in range(40):
    s = socket.socket(); s.bind(("127.0.0.2", 0)); s.connect(("127.0.0.1", port)); s.close()
    time.sleep(0.2 + random.random())
EOF
timeout 60 /usr/bin/python3 - "$PORT" <<'EOF' & PIDS+=($!)
import socket, sys, time
port = int(sys.argv[1]); t0 = time.monotonic()
for i in range(22):
    time.sleep(max(0, t0 + 2 * i - time.monotonic()))
    s = socket.socket(); s.bind(("127.0.0.3", 0)); s.connect(("127.0.0.1", port)); s.close()
EOF
timeout 60 /usr/bin/python3 - "$PORT" <<'EOF' & PIDS+=($!)
import socket, sys, time
from kazoo.client import KazooClient
_orig = socket.create_connection
socket.create_connection = lambda a, timeout=None, source_address=None, **kw: _orig(a, timeout, ("127.0.0.4", 0))
zk = KazooClient(hosts="127.0.0.1:%s" % sys.argv[1], timeout=10); zk.start(timeout=10)
time.sleep(45); zk.stop(); zk.close()
EOF
for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
PIDS=()
wait "$WATCH" || true
kill -INT "$TCPDUMP" 2>/dev/null || true; wait "$TCPDUMP" 2>/dev/null || true
sleep 1
kill "$ZK"; wait "$ZK" 2>/dev/null || true
echo "$OUT"
