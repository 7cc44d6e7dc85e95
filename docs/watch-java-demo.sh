#!/usr/bin/env bash
# Produces the Java example of docs/watch.md: incident 000 with the real ZooKeeper Java client.
#   namespace jzs (10.19.0.1): a ZooKeeper 3.8 server (Debian's zookeeper package)
#   namespace jzc (10.19.0.2): tests/ConnDoctor.Tests/helpers/ZkJavaClient.java on a class path whose zookeeper-jute
#                              lacks org/apache/zookeeper/proto/SetWatches*.class; it opens a session and sets a watch
# then runs `conndoctor watch --netns jzc` (ARGS, default: --duration 20s), and one second in destroys the client's
# connection (ss -K): every reconnect then fails with NoClassDefFoundError before its ConnectRequest, and the
# client's send thread retries after its own backoff, forever. Root; needs javac; bounded; cleans up after itself.
# Usage: docs/watch-java-demo.sh [conndoctor watch options...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
BIN=${CONNDOCTOR:-$root/artifacts/conndoctor}
J=/usr/share/java
work=$(mktemp -d /tmp/cd-java-demo.XXXXXX)
cleanup() { kill ${pids:-} 2>/dev/null || true; wait 2>/dev/null || true; ip netns del jzs 2>/dev/null || true; ip netns del jzc 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ip netns del jzs 2>/dev/null || true; ip netns del jzc 2>/dev/null || true
for n in jzs jzc; do ip netns add $n; ip -n $n link set lo up; done
ip link add jzc0 netns jzc type veth peer name jzs0 netns jzs
ip -n jzc addr add 10.19.0.2/24 dev jzc0; ip -n jzs addr add 10.19.0.1/24 dev jzs0
ip -n jzc link set jzc0 up; ip -n jzs link set jzs0 up

# The server.
mkdir -p "$work/data"
printf 'tickTime=2000\ndataDir=%s/data\nclientPort=2181\nmaxClientCnxns=60\n4lw.commands.whitelist=srvr\nadmin.enableServer=false\n' "$work" > "$work/zoo.cfg"
printf 'log4j.rootLogger=INFO, F\nlog4j.appender.F=org.apache.log4j.FileAppender\nlog4j.appender.F.File=%s/zookeeper.log\nlog4j.appender.F.layout=org.apache.log4j.PatternLayout\nlog4j.appender.F.layout.ConversionPattern=%%d{ISO8601} - %%-5p [%%t:%%C{1}@%%L] - %%m%%n\n' "$work" > "$work/log4j.properties"
ip netns exec jzs timeout 120 java -Xmx96m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp $J/zookeeper.jar:$J/slf4j-log4j12.jar:$J/log4j-1.2.jar \
  -Dlog4j.configuration=file:$work/log4j.properties org.apache.zookeeper.server.quorum.QuorumPeerMain "$work/zoo.cfg" >/dev/null 2>&1 &
pids="$!"

# The client: zookeeper.jar without its manifest (whose Class-Path names the real zookeeper-jute.jar), jute without SetWatches.
python3 - "$work" <<'PY'
import sys, zipfile
def copy(src, dst, drop):
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zo:
        for i in zi.infolist():
            if not drop(i.filename): zo.writestr(i, zi.read(i.filename))
copy("/usr/share/java/zookeeper.jar", sys.argv[1] + "/zookeeper.jar", lambda n: n == "META-INF/MANIFEST.MF")
copy("/usr/share/java/zookeeper-jute.jar", sys.argv[1] + "/zookeeper-jute-without-SetWatches.jar", lambda n: n.startswith("org/apache/zookeeper/proto/SetWatches"))
PY
javac -nowarn -cp "$work/zookeeper.jar:$J/zookeeper-jute.jar:$J/slf4j-api.jar" -d "$work" "$root/tests/ConnDoctor.Tests/helpers/ZkJavaClient.java"
for i in $(seq 120); do
  ip netns exec jzs bash -c 'exec 3<>/dev/tcp/10.19.0.1/2181 && echo srvr >&3 && cat <&3' 2>/dev/null | grep -q Mode && break; sleep 0.5
done
ip netns exec jzc timeout 120 java -Xmx48m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dorg.slf4j.simpleLogger.logFile=System.out \
  -cp "$work/zookeeper.jar:$work/zookeeper-jute-without-SetWatches.jar:$J/slf4j-api.jar:$J/slf4j-simple.jar:$work" \
  ZkJavaClient 10.19.0.1:2181 110 < <(sleep 115) > "$work/client.log" 2>&1 &
pids="$pids $!"
for i in $(seq 120); do grep -q '^ready ' "$work/client.log" && break; sleep 0.5; done
grep '^ready ' "$work/client.log" >&2

if [ $# -eq 0 ]; then set -- --duration 20s; fi
(sleep 1; ip netns exec jzc ss -K dst 10.19.0.1 dport = 2181 >/dev/null 2>&1) &
"$BIN" watch --netns jzc "$@"
echo "client log: $(grep -c 'NoClassDefFoundError: org/apache/zookeeper/proto/SetWatches' "$work/client.log") NoClassDefFoundError(s) for SetWatches" >&2
