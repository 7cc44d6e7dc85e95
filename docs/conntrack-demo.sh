#!/usr/bin/env bash
# Produces the output docs/conntrack.md shows. A Kubernetes node in miniature (as tests/ConnDoctor.Tests/Infra/NatNodeLab.cs
# builds it): namespace cd-ct-node with a bridge 10.244.1.1/24 and two pods (cd-ct-pod0 10.244.1.11, cd-ct-pod1
# 10.244.1.12) on veth pairs, masquerading them (nft) out of its uplink 192.168.77.1 to cd-ct-server (192.168.77.2),
# which listens on 2181. pod0 holds three connections; pod1 runs a reconnect loop (40 connections opened and closed
# by the pod in one second). Each pod's process is put in a kubepods cgroup and the kubelet's files for it are laid
# out under a temp "node root". Then: `diagnose --netns cd-ct-node`, `sockets --netns cd-ct-pod0 --node-root DIR`, and
# `conntrack -L` beside. Needs root, nft, conntrack, python3, cgroup v2. Bounded; cleans up.
# Usage: docs/conntrack-demo.sh [random]   (random: masquerade fully-random, iptables' --random-fully)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
S="$root/tests/ConnDoctor.Tests/helpers/scenario.py"
BIN=${CONNDOCTOR:-$root/artifacts/conndoctor}
dir=$(mktemp -d /tmp/cd-ctdemo.XXXXXX)
cg=$( [ -f /sys/fs/cgroup/cgroup.procs ] && echo /sys/fs/cgroup || echo /sys/fs/cgroup/unified )
pids=""
uid0=5f0c9a3e-1b2d-4c6e-8f01-23456789abcd; cid0=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
uid1=7a1b2c3d-4e5f-4061-8273-8495a6b7c8d9; cid1=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
cleanup() {
  kill $pids 2>/dev/null || true; sleep 0.3
  for ns in cd-ct-node cd-ct-server cd-ct-pod0 cd-ct-pod1; do ip netns del $ns 2>/dev/null || true; done
  for u in $uid0:$cid0 $uid1:$cid1; do
    d="$cg/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod$(echo ${u%%:*} | tr - _).slice"
    rmdir "$d/cri-containerd-${u##*:}.scope" "$d" 2>/dev/null || true
  done
  rmdir "$cg/kubepods.slice/kubepods-besteffort.slice" "$cg/kubepods.slice" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
for ns in cd-ct-node cd-ct-server cd-ct-pod0 cd-ct-pod1; do ip netns add $ns; ip -n $ns link set lo up; done
ip link add cdctup netns cd-ct-node type veth peer name cdctsrv netns cd-ct-server
ip -n cd-ct-node addr add 192.168.77.1/24 dev cdctup; ip -n cd-ct-node link set cdctup up
ip -n cd-ct-server addr add 192.168.77.2/24 dev cdctsrv; ip -n cd-ct-server link set cdctsrv up
ip -n cd-ct-node link add cdctbr type bridge; ip -n cd-ct-node addr add 10.244.1.1/24 dev cdctbr; ip -n cd-ct-node link set cdctbr up
ip netns exec cd-ct-node sysctl -qw net.ipv4.ip_forward=1
printf 'table ip cdnat {\n chain postrouting {\n  type nat hook postrouting priority srcnat; policy accept;\n  ip saddr 10.244.1.0/24 oifname "cdctup" masquerade%s\n }\n}\n' \
  "$([ "${1:-}" = random ] && echo ' fully-random')" | ip netns exec cd-ct-node nft -f -
# pod NS INDEX UID CID NAME: a pod on the bridge, and the kubelet's files for it under $dir (the node root).
pod() {
  local ns=$1 i=$2 uid=$3 cid=$4 name=$5
  ip link add cdctp$i netns cd-ct-node type veth peer name eth0 netns $ns
  ip -n cd-ct-node link set cdctp$i master cdctbr; ip -n cd-ct-node link set cdctp$i up
  ip -n $ns addr add 10.244.1.$((11 + i))/24 dev eth0; ip -n $ns link set eth0 up; ip -n $ns route add default via 10.244.1.1
  mkdir -p "$dir/var/log/pods/zk-apps_${name}_$uid/app" "$dir/var/log/containers" "$dir/var/lib/kubelet/pods/$uid/containers/app" \
    "$dir/var/lib/kubelet/pods/$uid/volumes/kubernetes.io~projected/kube-api-access-x7k2p"
  : > "$dir/var/log/pods/zk-apps_${name}_$uid/app/0.log"
  ln -s "$dir/var/log/pods/zk-apps_${name}_$uid/app/0.log" "$dir/var/log/containers/${name}_zk-apps_app-$cid.log"
  printf '# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n10.244.1.%s\t%s\n' $((11 + i)) "$name" > "$dir/var/lib/kubelet/pods/$uid/etc-hosts"
  printf 'zk-apps' > "$dir/var/lib/kubelet/pods/$uid/volumes/kubernetes.io~projected/kube-api-access-x7k2p/namespace"
}
pod cd-ct-pod0 0 $uid0 $cid0 orders-5d9c7b8f4-x2x7q
pod cd-ct-pod1 1 $uid1 $cid1 billing-6b7f9c8d5-q4n2m
incgroup() { local d="$cg/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod$(echo $1 | tr - _).slice/cri-containerd-$2.scope"; mkdir -p "$d"; echo $3 > "$d/cgroup.procs"; }

coproc SRV { ip netns exec cd-ct-server python3 "$S" server --listen 0.0.0.0:2181:drain --lifetime 120; }
read -r _ <&"${SRV[0]}"; pids="$pids $SRV_PID"
coproc P0 { ip netns exec cd-ct-pod0 python3 "$S" good --connect 192.168.77.2:2181 --count 3 --lifetime 120; }
read -r _ p0 <&"${P0[0]}"; pids="$pids $P0_PID"; incgroup $uid0 $cid0 $p0
coproc P1 { ip netns exec cd-ct-pod1 python3 "$S" pace --connect 192.168.77.2:2181 --rate 40 --seconds 1 --start-after 0.1 --lifetime 120; }
read -r _ p1 <&"${P1[0]}"; pids="$pids $P1_PID"; incgroup $uid1 $cid1 $p1
read -r _ <&"${P1[0]}"   # "done N"
sleep 0.5

echo "## diagnose --netns cd-ct-node --json: the conntrack source"
"$BIN" diagnose --netns cd-ct-node --no-app-logs --json | python3 -c '
import json,sys
for s in json.load(sys.stdin)["sources"]:
    if s["source"].startswith("conntrack"): print(json.dumps(s))'
echo "## diagnose --netns cd-ct-server --json: the conntrack source (a host that masquerades nothing)"
"$BIN" diagnose --netns cd-ct-server --no-app-logs --json | python3 -c '
import json,sys
for s in json.load(sys.stdin)["sources"]:
    if s["source"].startswith("conntrack"): print(json.dumps(s))' 
echo
echo "## the server's view (sockets --netns cd-ct-server --state established)"
"$BIN" sockets --netns cd-ct-server --group-by none --state established
echo
echo "## sockets --netns cd-ct-pod0 --node-root NODEROOT --state established --group-by none --json (owners)"
"$BIN" sockets --netns cd-ct-pod0 --node-root "$dir" --state established --group-by none --json | python3 -c '
import json,sys
for s in json.load(sys.stdin)["sockets"]:
    o = s.get("owners", [{}])[0]
    print(s["local"], "->", s["remote"], o.get("process"), o.get("pid"), o.get("podNamespace"), o.get("podName"), o.get("containerName"))'
echo
echo "## sockets --all-netns --node-root NODEROOT --state established (per-namespace headings)"
"$BIN" sockets --all-netns --node-root "$dir" --state established 2>&1 | grep -E "^netns cd-ct-pod" || true
echo
echo "## conntrack -L -p tcp --dport 2181 in cd-ct-node (the oracle), first lines"
ip netns exec cd-ct-node conntrack -L -p tcp --dport 2181 2>&1 | sort -k4,4 | head -6
