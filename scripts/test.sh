#!/usr/bin/env bash
# Runs the whole test suite: builds the NativeAOT binary (the smoke tests run it), then every xunit test.
# Kernel tests create network namespaces: run as root.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh || exit 1
dotnet build tests/ConnDoctor.Tests -nologo -v quiet -c Debug || exit 1
out=$(mktemp)
dotnet test tests/ConnDoctor.Tests --no-build -nologo --logger "console;verbosity=normal" 2>&1 | tee "$out" | grep -vE '^\s+Passed ' 
rc=${PIPESTATUS[0]}
# One plain closing line that any CI reads: "N passed, N failed".
passed=$(sed -nE 's/^ +Passed: +([0-9]+)$/\1/p' "$out" | tail -1)
failed=$(sed -nE 's/^ +Failed: +([0-9]+)$/\1/p' "$out" | tail -1)
rm -f "$out"
echo "tests: ${passed:-0} passed, ${failed:-0} failed"
[ "$rc" -eq 0 ] && [ -n "$passed" ] && [ "${passed:-0}" -gt 0 ]
