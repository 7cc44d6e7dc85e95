#!/usr/bin/env bash
# Produces the output docs/collect.md shows. Needs root (network namespaces) and Debian's zookeeper package. Bounded;
# cleans up after itself. Usage: docs/collect-demo.sh
#
# A "ZooKeeper server host" (namespace cd-collect-demo) running a real ZooKeeper 3.8 (log4j FileAppender), a reconnect
# loop from 127.0.0.2 (300 connections closed before a session exists), a healthy kazoo client on 127.0.0.4, and an
# application that leaks CLOSE_WAIT towards a service on 127.0.0.1:9001 with its stdout in app.log. Then
# `conndoctor collect --netns cd-collect-demo -o DOC.json.gz`, a look inside the document, and
# `conndoctor diagnose --from DOC.json.gz`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
Z="$root/tests/ConnDoctor.Tests/helpers/zkclient.py"
S="$root/tests/ConnDoctor.Tests/helpers/scenario.py"
BIN=${CONNDOCTOR:-$root/artifacts/conndoctor}
dir=$(mktemp -d /tmp/cd-collectdemo.XXXXXX)
ns=cd-collect-demo
pids=""
cleanup() { kill $pids 2>/dev/null || true; ip netns del $ns 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
nsx() { ip netns exec $ns "$@"; }
ip netns add $ns; ip -n $ns link set lo up
CP=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar
mkdir -p "$dir/zk/data"
printf 'tickTime=2000\ndataDir=%s/zk/data\nclientPort=2181\n4lw.commands.whitelist=*\nadmin.enableServer=false\n' "$dir" > "$dir/zk/zoo.cfg"
printf 'log4j.rootLogger=INFO, F\nlog4j.appender.F=org.apache.log4j.FileAppender\nlog4j.appender.F.File=%s/zk/zookeeper.log\nlog4j.appender.F.layout=org.apache.log4j.PatternLayout\nlog4j.appender.F.layout.ConversionPattern=%%d{ISO8601} [myid:%%X{myid}] - %%-5p [%%t:%%C{1}@%%L] - %%m%%n\n' "$dir" > "$dir/zk/log4j.properties"
nsx timeout 300 java -Xmx96m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp $CP -Dlog4j.configuration=file:$dir/zk/log4j.properties \
  org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zk/zoo.cfg" > "$dir/zk/zookeeper.out" 2>&1 & pids="$pids $!"
for _ in $(seq 150); do
  r=$(nsx /usr/bin/python3 -c "import socket; s=socket.create_connection(('127.0.0.1',2181),2); s.sendall(b'srvr'); print(s.recv(4096).decode())" 2>/dev/null || true)
  case "$r" in *"Mode: "*) break ;; esac; sleep 0.2
done
nsx timeout 300 /usr/bin/python3 "$Z" keep --source 127.0.0.4 --count 1 --hold 300 --server 127.0.0.1:2181 > "$dir/keep.out" 2>&1 & pids="$pids $!"
until grep -q done "$dir/keep.out"; do sleep 0.2; done
nsx /usr/bin/python3 "$Z" nosession --source 127.0.0.2 --count 300 --server 127.0.0.1:2181 > /dev/null
nsx timeout 300 /usr/bin/python3 "$S" server --listen 127.0.0.1:9001:close --lifetime 300 > "$dir/server.out" 2>&1 & pids="$pids $!"
until grep -q ready "$dir/server.out"; do sleep 0.1; done
now=$(date '+%Y-%m-%d %H:%M:%S')
printf '%s,101 ERROR [pool-1-thread-3] c.e.orders.Poller - poll failed\njava.net.SocketException: Too many open files\n%s,907 ERROR [pool-1-thread-4] c.e.orders.Poller - poll failed\njava.net.SocketException: Too many open files\n' "$now" "$now" > "$dir/app.log"
nsx timeout 300 sh -c "exec /usr/bin/python3 $S leaky --connect 127.0.0.1:9001 --count 12 --lifetime 300 >> $dir/app.log 2>&1" & pids="$pids $!"
until grep -q ready "$dir/app.log"; do sleep 0.1; done

echo "# conndoctor collect --netns $ns -o /tmp/host1.json.gz"
"$BIN" collect --netns $ns -o "$dir/host1.json.gz" 2>&1 | sed "s|$dir|/tmp|g"
echo
echo "# a look inside (python3: the parts, the identity, one socket row, one process, the app logs)"
/usr/bin/python3 - "$dir/host1.json.gz" <<'EOF' | sed "s|$(dirname "$dir/x")|/tmp|g"
import gzip, json, sys
d = json.load(gzip.open(sys.argv[1]))
print("parts:", ", ".join(d.keys()))
print("kind:", d["kind"], "schemaVersion:", d["schemaVersion"], "tool:", d["tool"], d["toolVersion"], "redacted:", d["redacted"])
print("identity:", json.dumps(d["identity"]))
print("statuses:", ", ".join(f'{s["source"]} {s["state"]}' for s in d["statuses"]))
print("socketColumns:", json.dumps(d["socketColumns"]))
print("a CLOSE_WAIT socket:", json.dumps(next(s for s in d["sockets"] if s[1] == 8)))
leaky = next(p for p in d["processes"] if "leaky" in p["commandLine"])
print("its process:", json.dumps(leaky))
print("zkLog:", len(d["zkLog"]["clients"]), "client IPs,", d["zkLog"]["lines"], "lines; zk:", len(d["zk"]["servers"]), "server(s) polled")
print("appLogs:", json.dumps([(p["pid"], p["process"], [f["path"] for f in p["files"]], [x["signature"] for x in p["patterns"]]) for p in d["appLogs"]["processes"]]))
EOF
echo
echo "# conndoctor diagnose --from /tmp/host1.json.gz"
"$BIN" diagnose --from "$dir/host1.json.gz" | sed "s|$dir|/tmp|g"
