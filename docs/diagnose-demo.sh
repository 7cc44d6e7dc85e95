#!/usr/bin/env bash
# Produces the output docs/diagnose.md shows (FOURLW=srvr: the server whitelists srvr only, as 3.5+ does by default). Needs root (network namespaces), Debian's zookeeper package, kazoo and,
# for the client host, a JDK (javac). Bounded; cleans up after itself. Usage: docs/diagnose-demo.sh [server|client|json]
#
# server: a "ZooKeeper server host" (namespace cd-diag-server) running a real ZooKeeper 3.8 with maxClientCnxns=10,
#         its log written by a log4j FileAppender (and stdout to zookeeper.out, as zkServer.sh does), and three client
#         "hosts" on other loopback addresses of that namespace:
#           127.0.0.2  a reconnect loop: 300 connections, each closed before a session exists
#           127.0.0.3  ten connections held open (the limit), then six more, refused
#           127.0.0.4  a healthy kazoo client with one session
#         then `conndoctor diagnose --netns cd-diag-server`, nothing else given.
# client: a "client host" (cd-diag-client, 10.21.0.2) joined to a server host (cd-diag-zk, 10.21.0.1) by a veth pair:
#         the real ZooKeeper Java client (tests/ConnDoctor.Tests/helpers/ZkJavaClient.java) with SetWatches missing
#         from its class path (incident 000), its log to app.log; its connection is cut once, and from then on every
#         reconnect fails in primeConnection; a healthy kazoo client beside it. Then
#         `conndoctor diagnose --netns cd-diag-client --watch 20s`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
Z="$root/tests/ConnDoctor.Tests/helpers/zkclient.py"
BIN=${CONNDOCTOR:-$root/artifacts/conndoctor}
dir=$(mktemp -d /tmp/cd-diagdemo.XXXXXX)
pids=""
cleanup() {
  exec 9>&- 2>/dev/null || true
  kill $pids 2>/dev/null || true
  for ns in cd-diag-server cd-diag-client cd-diag-zk; do ip netns del $ns 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
CP=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar

# zk NS ADDR MAXCNXNS: a ZooKeeper in the namespace, its config and log under $dir/NS.
zk() {
  local ns=$1 addr=$2 max=$3 d="$dir/$1"
  mkdir -p "$d/data"
  printf 'tickTime=2000\ndataDir=%s/data\nclientPort=2181\nclientPortAddress=%s\nmaxClientCnxns=%s\n4lw.commands.whitelist=%s\nadmin.enableServer=false\nminSessionTimeout=4000\nmaxSessionTimeout=6000\n' "$d" "$addr" "$max" "${FOURLW:-*}" > "$d/zoo.cfg"
  printf 'log4j.rootLogger=INFO, F\nlog4j.appender.F=org.apache.log4j.FileAppender\nlog4j.appender.F.File=%s/zookeeper.log\nlog4j.appender.F.layout=org.apache.log4j.PatternLayout\nlog4j.appender.F.layout.ConversionPattern=%%d{ISO8601} [myid:%%X{myid}] - %%-5p [%%t:%%C{1}@%%L] - %%m%%n\n' "$d" > "$d/log4j.properties"
  ip netns exec "$ns" timeout 300 java -Xmx96m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp $CP \
    -Dlog4j.configuration=file:$d/log4j.properties org.apache.zookeeper.server.quorum.QuorumPeerMain "$d/zoo.cfg" > "$d/zookeeper.out" 2>&1 &
  pids="$pids $!"
  local a=$addr; [ "$a" = 0.0.0.0 ] && a=127.0.0.1
  for _ in $(seq 150); do
    r=$(ip netns exec "$ns" /usr/bin/python3 -c "import socket; s=socket.create_connection(('$a',2181),2); s.sendall(b'srvr'); print(s.recv(4096).decode())" 2>/dev/null || true)
    case "$r" in *"Mode: "*) return ;; esac; sleep 0.2
  done
  echo "ZooKeeper did not start in $ns" >&2; exit 1
}

mkfifo "$dir/hold"; exec 9<>"$dir/hold"
what=${1:-server}
if [ "$what" = server ] || [ "$what" = json ]; then
  ip netns add cd-diag-server; ip -n cd-diag-server link set lo up
  zk cd-diag-server 0.0.0.0 10
  nsx() { ip netns exec cd-diag-server "$@"; }
  nsx timeout 300 /usr/bin/python3 "$Z" keep --source 127.0.0.4 --count 1 --hold 300 --server 127.0.0.1:2181 <"$dir/hold" >/dev/null 2>&1 & pids="$pids $!"
  nsx timeout 300 /usr/bin/python3 "$Z" hold --source 127.0.0.3 --count 10 --extra 6 --gap 0.2 --keep-open 300 --server 127.0.0.1:2181 <"$dir/hold" > "$dir/holder.out" 2>&1 & pids="$pids $!"
  nsx /usr/bin/python3 "$Z" nosession --source 127.0.0.2 --count 300 --server 127.0.0.1:2181 >/dev/null
  until grep -q held "$dir/holder.out"; do sleep 0.2; done
  if [ "$what" = json ]; then "$BIN" diagnose --netns cd-diag-server --json; exit 0; fi
  echo "# conndoctor diagnose --netns cd-diag-server"
  "$BIN" diagnose --netns cd-diag-server || true
fi
if [ "$what" = client ]; then
  ip netns add cd-diag-zk; ip netns add cd-diag-client
  for ns in cd-diag-zk cd-diag-client; do ip -n $ns link set lo up; done
  ip link add cddz0 type veth peer name cddc0
  ip link set cddz0 netns cd-diag-zk; ip link set cddc0 netns cd-diag-client
  ip -n cd-diag-zk addr add 10.21.0.1/24 dev cddz0; ip -n cd-diag-client addr add 10.21.0.2/24 dev cddc0
  ip -n cd-diag-client addr add 10.21.0.3/24 dev cddc0
  ip -n cd-diag-zk link set cddz0 up; ip -n cd-diag-client link set cddc0 up
  zk cd-diag-zk 10.21.0.1 60
  # The Java client, built as the tests build it: zookeeper-jute without org/apache/zookeeper/proto/SetWatches*.
  mkdir -p "$dir/java/classes" "$dir/app"
  /usr/bin/python3 - "$dir/java" <<'PY'
import sys, zipfile
out = sys.argv[1]
with zipfile.ZipFile("/usr/share/java/zookeeper.jar") as src, zipfile.ZipFile(out + "/zookeeper.jar", "w") as dst:
    for e in src.infolist():
        if e.filename != "META-INF/MANIFEST.MF": dst.writestr(e, src.read(e.filename))
with zipfile.ZipFile("/usr/share/java/zookeeper-jute.jar") as src, zipfile.ZipFile(out + "/jute-broken.jar", "w") as dst:
    for e in src.infolist():
        if not e.filename.startswith("org/apache/zookeeper/proto/SetWatches"): dst.writestr(e, src.read(e.filename))
PY
  J=$dir/java
  javac -nowarn -d "$J/classes" -cp "$J/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/slf4j-api.jar" "${ZK_JAVA_CLIENT:-$root/tests/ConnDoctor.Tests/helpers/ZkJavaClient.java}"
  (cd "$dir/app" && ip netns exec cd-diag-client timeout 300 java -Xmx48m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
     -Dorg.slf4j.simpleLogger.logFile="$dir/app/app.log" -Dorg.slf4j.simpleLogger.showDateTime=true -Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS \
     -cp "$J/zookeeper.jar:$J/jute-broken.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-simple.jar:$J/classes" ZkJavaClient 10.21.0.1:2181 300 \
     <"$dir/hold" > "$dir/app/client.out" 2>&1 & echo $! > "$dir/java.pid")
  pids="$pids $(cat "$dir/java.pid")"
  until grep -q '^ready' "$dir/app/client.out"; do sleep 0.2; done
  ip netns exec cd-diag-client timeout 300 /usr/bin/python3 "$Z" keep --source 10.21.0.3 --count 1 --hold 300 --server 10.21.0.1:2181 <"$dir/hold" >/dev/null 2>&1 & pids="$pids $!"
  sleep 2
  # The break (a server restart or a network blip would do the same): from now on every reconnect fails.
  ip netns exec cd-diag-client ss -K dst 10.21.0.1 src 10.21.0.2 dport = 2181 >/dev/null 2>&1
  sleep 5
  echo "# conndoctor diagnose --netns cd-diag-client --watch 20s"
  "$BIN" diagnose --netns cd-diag-client --watch 20s || true
  [ -z "${SHOW_CLIENT:-}" ] || { cp "$dir/app/app.log" /tmp/diag-app.log; echo "--- client.out"; tail -20 "$dir/app/client.out"; echo "--- app.log"; tail -30 "$dir/app/app.log"; } >&2
fi
