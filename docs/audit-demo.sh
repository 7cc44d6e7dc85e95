#!/usr/bin/env bash
# Produces the output docs/audit.md shows: this host with Debian's own zoo.cfg, then the fixture trees of
# tests/ConnDoctor.Tests/fixtures/audit (captured from real namespaces; "obsolete" is a hand-written 4.9 tree).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
BIN=${CONNDOCTOR:-$root/artifacts/conndoctor}
F=tests/ConnDoctor.Tests/fixtures/audit
cd "$root"
run() { echo "\$ conndoctor ${*}"; "$BIN" "$@"; echo "(exit $?)"; echo; }
run audit --zoo-cfg /etc/zookeeper/conf/zoo.cfg
run audit --proc-root $F/dangerous --zoo-cfg $F/zoo/dangerous.cfg --fail-on warning
run audit --proc-root $F/obsolete
run audit --proc-root $F/sane --zoo-cfg $F/zoo/bad-number.cfg
