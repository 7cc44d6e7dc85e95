#!/usr/bin/env bash
# Installs what ConnDoctor's build and tests need on a fresh Debian machine, then builds artifacts/conndoctor.
# Needs root for apt-get. The .NET 10 SDK must already be on PATH (it is not in Debian's archive).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v ip >/dev/null || need+=(iproute2)          # ip netns, ss: the tests' namespaces and oracle
command -v ss >/dev/null || need+=(iproute2)
[ -x /usr/bin/python3 ] || need+=(python3)            # the scenario processes that hold sockets
command -v gcc >/dev/null || need+=(build-essential)  # NativeAOT links with the system toolchain
[ -e /usr/include/zlib.h ] || need+=(zlib1g-dev)
command -v netstat >/dev/null || need+=(net-tools)    # netstat, for the benchmark's comparison
[ -e /usr/share/java/zookeeper.jar ] || need+=(zookeeper)            # a real ZooKeeper 3.8 for the zklog/zk tests
[ -e /usr/share/java/slf4j-log4j12.jar ] || need+=(libslf4j-java)    # its logging binding (the tests start it with log4j)
[ -d /usr/lib/python3/dist-packages/kazoo ] || need+=(python3-kazoo) # a real third-party ZooKeeper client
command -v javac >/dev/null || need+=(default-jdk-headless)      # compiles the tests' ZooKeeper Java client (helpers/ZkJavaClient.java)
[ -e /usr/share/java/slf4j-simple.jar ] || need+=(libslf4j-java)     # that client's log binding
command -v tcpdump >/dev/null || need+=(tcpdump)      # the pcap tests record their own captures
command -v tshark >/dev/null || need+=(tshark)        # the pcap tests' oracle (and its editcap, capinfos)
command -v nft >/dev/null || need+=(nftables)         # the cross-host tests' "node" namespace masquerades its pods
command -v conntrack >/dev/null || need+=(conntrack)  # conntrack -L: the oracle of the conntrack source
command -v chromium >/dev/null || need+=(chromium)    # the HTML reports' browser test (headless, offline)
command -v prometheus >/dev/null || need+=(prometheus)  # the agent tests' real Prometheus, and promtool
command -v npm >/dev/null || need+=(npm)              # tests/k8s-validate: the Kubernetes manifests checked offline (kubernetes-models)
command -v openssl >/dev/null || need+=(openssl)      # the Prometheus fixture's test CA (HTTPS scrapes)
command -v systemd-analyze >/dev/null || need+=(systemd)  # systemd-analyze verify/security of deploy/systemd's unit
command -v htpasswd >/dev/null || need+=(apache2-utils) # the agent's basic-auth test makes its bcrypt hash with htpasswd -B
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v dotnet >/dev/null || { echo "setup: the .NET 10 SDK (dotnet) is not on PATH" >&2; exit 1; }

dotnet restore ConnDoctor.slnx -nologo -v quiet
(cd tests/k8s-validate && npm ci --no-audit --no-fund --loglevel=error >/dev/null)  # the schema validator's pinned packages
scripts/build.sh
