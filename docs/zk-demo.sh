#!/usr/bin/env bash
# Produces the output docs/zk.md shows: a real ZooKeeper 3.8 (Debian's package, small heap) on 127.0.0.1:21811
# with maxClientCnxns=20, and kazoo clients from three loopback addresses:
#   127.0.0.2  twenty sessions held open: the host sits at the per-IP limit
#   127.0.0.3  two sessions (well-behaved)
#   127.0.0.5  the session-per-task leak: a new session and an EPHEMERAL /clients/task-N every 2 s, never closed
# then runs `conndoctor zk` once (with a member that does not exist, 127.0.0.1:21899), over a watch, and with --path.
# Root not needed; bounded; cleans up after itself. Usage: docs/zk-demo.sh [once|watch|path|json|all]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
Z="$root/tests/ConnDoctor.Tests/helpers/zkclient.py"
BIN=${CONNDOCTOR:-$root/artifacts/conndoctor}
port=21811
dir=$(mktemp -d /tmp/cd-zkdemo.XXXXXX)
cleanup() { exec 9>&- 2>/dev/null || true; kill ${pids:-} 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
mkdir -p "$dir/data"
cat > "$dir/zoo.cfg" <<CFG
tickTime=2000
dataDir=$dir/data
clientPort=$port
maxClientCnxns=20
4lw.commands.whitelist=*
admin.enableServer=false
minSessionTimeout=4000
maxSessionTimeout=6000
CFG
printf 'log4j.rootLogger=WARN, F\nlog4j.appender.F=org.apache.log4j.FileAppender\nlog4j.appender.F.File=%s/zk.log\nlog4j.appender.F.layout=org.apache.log4j.PatternLayout\n' "$dir" > "$dir/log4j.properties"
timeout 300 java -Xmx96m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
  -cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar \
  -Dlog4j.configuration=file:$dir/log4j.properties org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg" >/dev/null 2>&1 &
pids="$!"
# Ready when srvr names a mode: 3.8 answers ruok (imok) before it serves sessions.
for _ in $(seq 150); do
  r=$( (exec 3<>/dev/tcp/127.0.0.1/$port && printf srvr >&3 && timeout 2 cat <&3) 2>/dev/null || true)
  case "$r" in *"Mode: "*) break ;; esac; sleep 0.2
done
# The clients hold their sessions until their stdin (a FIFO this script keeps open) closes: when the script ends.
mkfifo "$dir/hold"; exec 9<>"$dir/hold"
client() { timeout 300 /usr/bin/python3 "$Z" "$@" --server 127.0.0.1:$port --hold 300 <"$dir/hold" >/dev/null 2>&1 & pids="$pids $!"; }
client keep --source 127.0.0.2 --count 20
client keep --source 127.0.0.3 --count 2
client leak --source 127.0.0.5 --count 18 --rate 0.5 --path /clients
sleep 6
what=${1:-all}
if [ "$what" = once ] || [ "$what" = all ]; then
  echo "# conndoctor zk 127.0.0.1:$port,127.0.0.1:21899"
  "$BIN" zk 127.0.0.1:$port,127.0.0.1:21899 || true
fi
if [ "$what" = watch ] || [ "$what" = all ]; then
  echo; echo "# conndoctor zk 127.0.0.1:$port --watch 20s --interval 2s | cat"
  "$BIN" zk 127.0.0.1:$port --watch 20s --interval 2s | cat
fi
if [ "$what" = path ] || [ "$what" = all ]; then
  echo; echo "# conndoctor zk 127.0.0.1:$port --path /clients"
  "$BIN" zk 127.0.0.1:$port --path /clients
fi
if [ "$what" = json ]; then
  "$BIN" zk 127.0.0.1:$port --json
fi
