#!/usr/bin/env python3
"""Where a `conndoctor zklog` run's time goes, as a ladder of builds that each do a little more of the work.

Usage: bench/zklog/floor.py [--rounds N] [--log PATH]

Builds the working tree's source six times into a temporary directory, each time with a constant that makes the
reader stop at one step of its per-line work, then times the builds against each other and the mawk pipeline of
run.sh on the same log, interleaved, from a warm page cache. Stage 5 is the full analysis (the same code as
artifacts/conndoctor); the earlier stages give wrong answers on purpose and only their time counts:

  0  read the file and find the lines (pread on both cores, the newline scan)
  1  + each message's timestamp, its "[thread:Class@line]" part and its kind (no addresses, no session ids)
  2  + client addresses and session ids (the address memo)
  3  + lines and bytes per kind and per minute
  4  + each message's client and its first and last time seen
  5  + everything else: per-kind counters per client, connections per minute, sessions, pending ends

The edits are made by anchors in the source; if the code changed so that one is gone, the script says which.
Needs the .NET SDK, mawk, and the log of run.sh (generate it with bench/zklog/run.sh first).
"""
import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ZK = "src/ConnDoctor/Sources/ZkLog"
STAGES = [
    "read + newline scan",
    "+ timestamp, location, kind",
    "+ addresses, session ids",
    "+ totals per kind and minute",
    "+ client, first/last seen",
    "full analysis",
]
MAWK = ("mawk '/Accepted socket connection from/ { split($NF, a, \":\"); c[a[1]]++ } "
        "END { for (i in c) print c[i], i }' \"$0\" | sort -rn | head")

# (file, anchor, text inserted right after the anchor); each anchor must occur exactly once.
EDITS = [
    (f"{ZK}/ZkLogLine.cs", "public static class ZkLogLine\n{\n",
     "    internal const int FloorStage = STAGE;\n"),
    (f"{ZK}/ZkLogAccumulator.cs", "        Lines++;\n        var line = text[..length];\n",
     "        if (ZkLogLine.FloorStage == 0) { Recognised++; return; }\n"),
    (f"{ZK}/ZkLogLine.cs",
     "private static bool Address(ReadOnlySpan<byte> text, int length, int at, out NetAddress ip, out int slot, ZkAddressMemo? addresses, out int end)\n    {\n",
     "        if (FloorStage == 1) { (ip, slot, end) = (default, -1, -1); return false; }\n"),
    (f"{ZK}/ZkLogLine.cs",
     "private static int Hex(ReadOnlySpan<byte> text, int length, out ulong v)\n    {\n        v = 0;\n",
     "        if (FloorStage == 1) return 0;\n"),
    (f"{ZK}/ZkLogAccumulator.cs", "        Recognised += _curLines;\n",
     "        if (ZkLogLine.FloorStage <= 2) return;\n"),
    (f"{ZK}/ZkLogAccumulator.cs", "        m.Bytes += _curBytes;\n",
     "        if (ZkLogLine.FloorStage == 3) return;\n"),
    (f"{ZK}/ZkLogAccumulator.cs", "        c?.Seen(_curTime);\n",
     "        if (ZkLogLine.FloorStage == 4) return;\n"),
]


def fail(msg):
    print(f"floor.py: {msg}", file=sys.stderr)
    sys.exit(1)


def build(work, stage):
    src = os.path.join(work, "tree")
    if os.path.exists(src):
        shutil.rmtree(src)
    ignore = shutil.ignore_patterns("bin", "obj")
    shutil.copytree(os.path.join(ROOT, "src"), os.path.join(src, "src"), ignore=ignore)
    for name in os.listdir(ROOT):
        if name.startswith("Directory.") or name.endswith((".sln", ".slnx")):
            shutil.copy(os.path.join(ROOT, name), src)
    for path, anchor, text in EDITS:
        full = os.path.join(src, path)
        code = open(full).read()
        if code.count(anchor) != 1:
            fail(f"anchor not found once in {path} (the code changed; update EDITS): {anchor.strip()[:80]}")
        open(full, "w").write(code.replace(anchor, anchor + text.replace("STAGE", str(stage))))
    out = os.path.join(work, f"stage{stage}")
    r = subprocess.run(["dotnet", "publish", "src/ConnDoctor.Cli/ConnDoctor.Cli.csproj", "-c", "Release", "-r", "linux-x64",
                        "-o", out, "-nologo", "-v", "quiet"], cwd=src, capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"build of stage {stage} failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return os.path.join(out, "conndoctor")


def warm(log):
    """Makes the log resident again if the machine paged part of it out (see run.sh, 'Noise')."""
    try:
        res = int(subprocess.run(["fincore", "-b", "-n", "-o", "RES", log], capture_output=True, text=True).stdout.strip())
    except (OSError, ValueError):
        res = 0
    if res < os.path.getsize(log):
        fd = os.open(log, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
        subprocess.run(["cat", log], stdout=subprocess.DEVNULL, check=True)


def timed(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--log", default=os.path.join(ROOT, "bench/out/zklog/zookeeper-2048m.log"))
    a = ap.parse_args()
    if a.rounds < 1:
        fail("--rounds must be at least 1")
    if not os.path.isfile(a.log):
        fail(f"no log at {a.log}: generate it with bench/zklog/run.sh")
    for tool in ("dotnet", "mawk", "fincore"):
        if shutil.which(tool) is None:
            fail(f"{tool} is not installed")
    work = tempfile.mkdtemp(prefix="zklogfloor.")
    try:
        bins = []
        for stage in range(len(STAGES)):
            print(f"building stage {stage} ({STAGES[stage]}) ...", file=sys.stderr)
            bins.append(build(work, stage))
        cmds = [[b, "zklog", "--json", a.log] for b in bins] + [["bash", "-c", MAWK, a.log]]
        walls = [[] for _ in cmds]
        cpus = [[] for _ in cmds]
        print(f"load before: {open('/proc/loadavg').read().split()[0]}", file=sys.stderr)
        for r in range(a.rounds):
            warm(a.log)
            order = list(range(len(cmds)))
            if r % 2:
                order.reverse()
            for i in order:
                w, c = timed(cmds[i])
                walls[i].append(w)
                cpus[i].append(c)
            print(f"round {r + 1}/{a.rounds} done", file=sys.stderr)
        mawk = statistics.median(walls[-1])
        print(f"log: {a.log}, {os.path.getsize(a.log)} bytes; {a.rounds} interleaved rounds; "
              f"load {open('/proc/loadavg').read().split()[0]}")
        print(f"mawk per-IP pipeline: {mawk:.3f} s median; 8x mawk needs {mawk / 8:.3f} s")
        print()
        print("| stage | work | wall s (median) | added s | CPU s (median) | mawk / stage |")
        print("| ---: | --- | ---: | ---: | ---: | ---: |")
        prev = None
        for i, name in enumerate(STAGES):
            w = statistics.median(walls[i])
            c = statistics.median(cpus[i])
            added = "" if prev is None else f"{w - prev:+.3f}"
            print(f"| {i} | {name} | {w:.3f} | {added} | {c:.3f} | {mawk / w:.2f}x |")
            prev = w
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
