#!/usr/bin/env python3
"""Print the zklog benchmark's table, ratios, targets and the per-IP correctness check.

Called by run.sh with the raw timings (label, seconds), one /usr/bin/time run per command
(label, wall, user, sys, peak RSS KiB), the generator's truth, conndoctor's --json output,
and the awk pipeline's full output ("COUNT /IP" lines).
"""
import argparse
import json
import statistics

CD, RG, CAT, MAWK, GAWK = ("conndoctor zklog --json", "rg -c 'end of stream'", "cat > /dev/null",
                           "mawk per-IP pipeline", "gawk per-IP pipeline")
# The targets.
MAWK_X = 8.0            # conndoctor at least 8x faster than the mawk pipeline
RG_X = 3.0              # and within 3x of rg -c
RSS_LIMIT = 100e6       # bytes ("under 100 MB"; read as 10^6 bytes, the stricter reading)


def main():
    ap = argparse.ArgumentParser()
    for a in ("times", "rusage", "truth", "conndoctor", "awk"):
        ap.add_argument("--" + a, required=True)
    a = ap.parse_args()

    runs, others, disk = {}, {}, {}
    for line in open(a.times):
        label, secs, other, mib = line.rstrip("\n").split("\t")
        runs.setdefault(label, []).append(float(secs))
        others.setdefault(label, []).append(float(other))
        disk.setdefault(label, []).append(int(mib))
    rusage = {}
    for line in open(a.rusage):
        label, wall, user, sys_, rss = line.rstrip("\n").split("\t")
        rusage[label] = (float(user), float(sys_), int(rss))
    # A run is "busy" when other processes used more than 10% of a core while it ran, or when it
    # read more than 8 MiB from disk (the page cache had lost part of the log).
    busy = {k: [o > max(0.05, 0.10 * t) or d > 8 for t, o, d in zip(runs[k], others[k], disk[k])] for k in runs}
    med = {k: statistics.median(v) for k, v in runs.items()}
    quiet = {k: statistics.median([t for t, b in zip(v, busy[k]) if not b]) for k, v in runs.items() if not all(busy[k])}

    # ---- the table ------------------------------------------------------------------------------
    print("| command | median s | quiet median s | min s | runs (s; * = busy machine or disk reads) | CPU s (user+sys) | peak RSS MB |")
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: |")
    for label, v in runs.items():
        user, sys_, rss = rusage.get(label, (0, 0, 0))
        shown = " ".join("%.3f%s" % (t, "*" if b else "") for t, b in zip(v, busy[label]))
        q = "%.3f" % quiet[label] if label in quiet else "-"
        print("| `%s` | %.3f | %s | %.3f | %s | %.2f | %.1f |" % (label.replace("|", "\\|"), med[label], q, min(v), shown, user + sys_, rss * 1024 / 1e6))
    n_busy = sum(sum(b) for b in busy.values())
    print("\n%d of %d runs marked *: others used > 10%% of a core meanwhile (at most %.2f CPU s in a run), or > 8 MiB came from disk (at most %d MiB)"
          % (n_busy, sum(len(v) for v in runs.values()), max(max(o) for o in others.values()), max(max(d) for d in disk.values())))
    print()

    rss = rusage[CD][2] * 1024
    sets = [("all runs", med)] + ([("quiet runs", quiet)] if n_busy and all(k in quiet for k in (CD, RG, CAT, MAWK, GAWK)) else [])
    print("| ratio (of medians) | " + " | ".join(name for name, _ in sets) + " | target | met |")
    print("| --- | " + " | ".join("---:" for _ in sets) + " | --- | --- |")
    def row(name, f, target="", test=None):
        vals = [f(m) for _, m in sets]
        met = "" if test is None else " / ".join("yes" if test(v) else "**NO**" for v in vals)
        print("| %s | %s | %s | %s |" % (name, " | ".join("%.2fx" % v for v in vals), target, met))
    row("mawk / conndoctor", lambda m: m[MAWK] / m[CD], ">= %.0fx" % MAWK_X, lambda v: v >= MAWK_X)
    row("gawk / conndoctor", lambda m: m[GAWK] / m[CD])
    row("conndoctor / rg -c", lambda m: m[CD] / m[RG], "<= %.0fx" % RG_X, lambda v: v <= RG_X)
    row("conndoctor / cat", lambda m: m[CD] / m[CAT])
    for label in [l for l in med if l.startswith(CD + " (")]:
        row("%s / stock layout" % label[len(CD) + 1:], lambda m, l=label: m[l] / m[CD] if l in m else float("nan"), "<= 1.5x", lambda v: v <= 1.5)
    print("| conndoctor peak RSS | %.1f MB%s | < %.0f MB | %s |" % (rss / 1e6, " | " * (len(sets) - 1), RSS_LIMIT / 1e6, "yes" if rss < RSS_LIMIT else "**NO**"))
    print()

    # ---- correctness: accepted connections per IP, three ways ---------------------------------
    truth = json.load(open(a.truth))
    doc = json.load(open(a.conndoctor))
    cdc = {c["ip"]: c for c in doc["clients"]}
    awk = {}
    for line in open(a.awk):
        n, ip = line.split()
        awk[ip.lstrip("/")] = int(n)
    print("check: accepted connections per IP (truth = gen.py's count, awk = the mawk pipeline, cd = conndoctor JSON)")
    print("  %-15s %10s %10s %10s" % ("ip", "truth", "awk", "conndoctor"))
    rows = truth["clients"]
    for t in rows[:10]:
        c = cdc.get(t["ip"], {}).get("accepted")
        w = awk.get(t["ip"])
        print("  %-15s %10d %10s %10s  %s" % (t["ip"], t["accepted"], w, c, "ok" if t["accepted"] == w == c else "MISMATCH"))
    # Every IP and every counter the generator knows, not only the top ones.
    fields = [f for f in rows[0] if f != "ip"]
    bad_acc = [t["ip"] for t in rows if not (t["accepted"] == awk.get(t["ip"], 0) == cdc.get(t["ip"], {}).get("accepted", 0))]
    bad_any = [(t["ip"], f, t[f], cdc.get(t["ip"], {}).get(f)) for t in rows for f in fields if t[f] != cdc.get(t["ip"], {}).get(f, 0)]
    extra = sorted(set(cdc) - {t["ip"] for t in rows})
    print("  all %d IPs, accepted: %s" % (len(rows), "truth = awk = conndoctor" if not bad_acc else "MISMATCH for " + ", ".join(bad_acc[:10])))
    print("  all %d IPs, all %d counters (%s): %s" % (len(rows), len(fields), ", ".join(fields),
          "conndoctor = truth" if not bad_any else "%d MISMATCH(es), e.g. %s" % (len(bad_any), bad_any[:5])))
    if extra:
        print("  IPs conndoctor reports that the generator never wrote: %s" % ", ".join(extra[:10]))
    print("  lines: truth %d, conndoctor %d (%d unrecognised); bytes: truth %d, conndoctor %d"
          % (truth["lines"], doc["lines"], doc["unrecognisedLines"], truth["bytes"], doc["bytes"]))
    src = doc["sources"][0]
    print("  conndoctor's own read time (sources[0].durationMs): %.0f ms" % src["durationMs"])
    ok = not bad_acc and not bad_any and not extra and truth["lines"] == doc["lines"]
    print("check: %s" % ("OK" if ok else "MISMATCH"))


if __name__ == "__main__":
    main()
