#!/usr/bin/env bash
# Builds and runs the runtime stage of deploy/container/Containerfile without a registry: the base image is made here
# from this host's own libc, libm, OpenSSL 3 and CA bundle (podman import of a tarball), the binary is the one
# scripts/build.sh made (artifacts/conndoctor) instead of the build stage's. The Containerfile's runtime lines (COPY
# target, EXPOSE, ENTRYPOINT, CMD) are taken from the real file, so its entry point and default command are what run.
# Then: the image's default command behind a port mapping, and the DaemonSet's settings (host PID and network, read-only
# root, the four capabilities, tracefs and /run/netns mounted); /healthz and /metrics asked of both.
# Needs root and podman (apt-get install podman runc). Not run in CI (no container engine there). Usage:
#   deploy/container/try-runtime-stage.sh [PORT]      (PORT: a free loopback port, 19923 by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
port=${1:-19923}
bin=artifacts/conndoctor
[ -x "$bin" ] || { echo "no $bin: run scripts/build.sh first" >&2; exit 2; }
command -v podman >/dev/null || { echo "no podman: apt-get install podman runc" >&2; exit 2; }
work=$(mktemp -d)
trap 'podman rm -f cd-try-default cd-try-daemonset >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# The base: what `ldd` names for the binary, plus OpenSSL (loaded at run time for TLS) and the CA bundle.
root=$work/rootfs
mkdir -p "$root/lib64" "$root/lib/x86_64-linux-gnu" "$root/etc/ssl/certs" "$root/tmp"
cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
for l in libc.so.6 libm.so.6 libssl.so.3 libcrypto.so.3; do cp -L "/lib/x86_64-linux-gnu/$l" "$root/lib/x86_64-linux-gnu/"; done
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\napp:x:1654:1654::/home/app:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\napp:x:1654:\n' > "$root/etc/group"
chmod 1777 "$root/tmp"
tar -C "$root" -cf "$work/base.tar" .
podman import -q "$work/base.tar" localhost/conndoctor-try-base:latest >/dev/null

# The runtime stage of the real Containerfile, on that base, with the binary built here.
mkdir -p "$work/ctx/out"
cp "$bin" "$work/ctx/out/conndoctor"
sed -n '/^FROM .* AS runtime/,$p' deploy/container/Containerfile \
  | sed -e 's|^FROM .* AS runtime|FROM localhost/conndoctor-try-base:latest AS runtime|' -e 's|^COPY --from=build /out/conndoctor|COPY out/conndoctor|' \
  > "$work/ctx/Containerfile"
podman build -q --network=none -f "$work/ctx/Containerfile" -t localhost/conndoctor:try "$work/ctx" >/dev/null
echo "image: $(podman image inspect localhost/conndoctor:try --format '{{.Size}} bytes, entrypoint {{.Config.Entrypoint}}, cmd {{.Config.Cmd}}, ports {{.Config.ExposedPorts}}')"

# This sandbox's limits: crun cannot run on its hybrid cgroups, and raising RLIMIT_NOFILE/NPROC is refused.
run=(podman --runtime runc run -d --ulimit nofile=1024:1024 --ulimit nproc=4096:4096)
ask() { # NAME URL: /healthz, then the source_up lines of /metrics, within 30 s
  for _ in $(seq 60); do curl -fsS -m 2 "$2/healthz" >/dev/null 2>&1 && break; sleep 0.5; done
  echo "$1: /healthz $(curl -sS -m 5 "$2/healthz")"
  for _ in $(seq 60); do curl -fsS -m 5 "$2/metrics" 2>/dev/null | grep -q '^conndoctor_source_up{source="collect"} 1' && break; sleep 0.5; done
  curl -fsS -m 5 "$2/metrics" | grep -E '^conndoctor_source_up\{source="(collect|tracepoints|sockets_complete)"\}' | sed "s/^/$1: /"
  echo "$1: $(podman logs "$1" 2>&1 | head -1)"
}
# The image's own ENTRYPOINT and CMD (agent --listen 0.0.0.0:9149), its EXPOSEd port mapped to loopback.
"${run[@]}" --name cd-try-default -p "127.0.0.1:$port:9149" localhost/conndoctor:try >/dev/null
ask cd-try-default "http://127.0.0.1:$port"
# As the DaemonSet runs it (deploy/kubernetes/daemonset.yaml), on the host's network: a loopback port instead of 9149.
"${run[@]}" --name cd-try-daemonset --pid=host --network=host --read-only --security-opt no-new-privileges \
  --cap-drop=ALL --cap-add=SYS_ADMIN,SYS_PTRACE,DAC_READ_SEARCH,NET_ADMIN \
  -v /sys/kernel/tracing:/sys/kernel/tracing -v /run/netns:/run/netns:ro --tmpfs /tmp \
  localhost/conndoctor:try agent --listen "127.0.0.1:$((port + 1))" --interval 5s >/dev/null
ask cd-try-daemonset "http://127.0.0.1:$((port + 1))"
# SIGTERM, as the kubelet stops it (`podman stop` here waited out its timeout with --pid=host; the signal itself is what counts).
start=$(date +%s%N)
podman kill -s TERM cd-try-daemonset >/dev/null
timeout 30 podman wait cd-try-daemonset >/dev/null
echo "cd-try-daemonset: SIGTERM -> exit code $(podman inspect cd-try-daemonset --format '{{.State.ExitCode}}') in $(( ($(date +%s%N) - start) / 1000000 )) ms"
