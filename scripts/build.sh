#!/usr/bin/env bash
# Builds the NativeAOT binary to artifacts/conndoctor (the path users and scripts run).
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet publish src/ConnDoctor.Cli/ConnDoctor.Cli.csproj -c Release -r linux-x64 -o artifacts/publish -nologo -v quiet
cp artifacts/publish/conndoctor artifacts/conndoctor
echo "built artifacts/conndoctor"
