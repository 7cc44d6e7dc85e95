#!/usr/bin/env bash
# Produces the first example docs/zklog.md shows: a real ZooKeeper 3.8 (Debian's package) at INFO with
# maxClientCnxns=20 on 127.0.0.1, while
#   127.0.0.2 opens and closes 2,400 connections before any session (a reconnect loop),
#   127.0.0.4 holds 20 connections and is refused 30 more,
#   127.0.0.5 opens 15 sessions with an ephemeral node each and exits without close() (they expire),
#   127.0.0.1 asks mntr every 10 s (monitoring).
# Then conndoctor zklog reads the server's log. Loopback only, every client bounded; the server is stopped at the end.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
BIN=${CONNDOCTOR:-$root/artifacts/conndoctor}
ZC="$root/tests/ConnDoctor.Tests/helpers/zkclient.py"
PY=/usr/bin/python3
dir=$(mktemp -d /tmp/zklog-demo.XXXXXX)
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
zk=""
cleanup() { [ -n "$zk" ] && kill "$zk" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

cat > "$dir/zoo.cfg" <<EOF
tickTime=2000
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=20
4lw.commands.whitelist=*
admin.enableServer=false
EOF
cat > "$dir/log4j.properties" <<EOF
log4j.rootLogger=INFO, FILE
log4j.appender.FILE=org.apache.log4j.FileAppender
log4j.appender.FILE.File=$dir/zookeeper.log
log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n
EOF
java -Xmx96m -Xms16m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
  -cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar \
  -Dlog4j.configuration="file:$dir/log4j.properties" org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg" \
  > "$dir/java.out" 2>&1 &
zk=$!
fourlw() { $PY -c 'import socket,sys; s=socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2); s.sendall(sys.argv[2].encode()); print(s.recv(65536).decode(errors="replace")); s.close()' "$port" "$1" 2>/dev/null || true; }
for _ in $(seq 120); do [ "$(fourlw ruok)" = "imok" ] && break; sleep 0.5; done

server=127.0.0.1:$port
( for _ in $(seq 7); do fourlw mntr > /dev/null; sleep 10; done ) &
monitor=$!
timeout 120 $PY "$ZC" abandon --server "$server" --source 127.0.0.5 --count 15 > /dev/null
timeout 120 $PY "$ZC" hold --server "$server" --source 127.0.0.4 --count 20 --extra 30 --gap 0.05 > /dev/null
timeout 120 $PY "$ZC" nosession --server "$server" --source 127.0.0.2 --count 400 > /dev/null
sleep 5
timeout 120 $PY "$ZC" nosession --server "$server" --source 127.0.0.2 --count 2000 > /dev/null
sleep 15   # the abandoned sessions expire (timeout 4 s, checked every tick)
kill "$monitor" 2>/dev/null || true
kill "$zk"; wait "$zk" 2>/dev/null || true; zk=""

cd "$dir"
echo "# conndoctor zklog zookeeper.log"
"$BIN" zklog zookeeper.log || echo "(exit $?)"
