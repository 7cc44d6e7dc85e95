#!/usr/bin/env python3
"""bench/watch: CPU cost of `conndoctor watch` in tracepoint mode under connection churn (see bench/README.md)."""
import json, os, subprocess, sys, time

def ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])  # utime, stime in clock ticks

def run(binary, churn, ns, rate, seconds, port):
    hz = os.sysconf("SC_CLK_TCK")
    drv = subprocess.Popen(["ip", "netns", "exec", ns, churn, str(port), str(rate), str(seconds)],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    time.sleep(0.2)
    assert drv.stdout.readline().startswith("ready")
    duration = seconds * 3 + 4  # the driver may fall behind its pace; the watch outlives it
    w = subprocess.Popen([binary, "watch", "--mode", "trace", "--netns", ns, "--duration", f"{duration}s", "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(2)  # startup: tracefs instance, first socket table
    drv.stdin.write("go\n"); drv.stdin.flush()
    t0, c0 = time.monotonic(), ticks(w.pid)
    done = drv.stdout.readline().split()  # "done N SECONDS": the driver finished
    t1, c1 = time.monotonic(), ticks(w.pid)
    out, err = w.communicate()
    made, took = int(done[1]), float(done[2])
    drv.wait()
    doc = json.loads(out)
    wt = doc["watch"]
    rows = [r for r in wt["rows"] if r["direction"] == "outbound" and r["endpoint"].endswith(f":{port}")]
    seen = sum(r["opened"] for r in rows)
    steady = (sum(c1) - sum(c0)) / hz / (t1 - t0)
    user = (c1[0] - c0[0]) / hz / (t1 - t0)
    return dict(rate=rate, made=made, took=took, seen=seen, steady_cpu=steady, user_cpu=user, events=wt["eventsRead"], lost=wt["eventsLost"],
                measured_rate=sum(r["opensPerSec"] for r in rows))

def main():
    binary, churn, ns = sys.argv[1:4]
    seconds = float(os.environ.get("SECONDS_PER_RATE", "10"))
    rates = [int(r) for r in sys.argv[4:]] or [1000, 5000]
    print(f"{'target/s':>8} {'real/s':>7} {'made':>7} {'seen':>7} {'events':>8} {'lost':>5} {'cpu/wall':>9} {'(user)':>7}  target")
    for i, rate in enumerate(rates):
        r = run(binary, churn, ns, rate, seconds, 7000 + i)
        target = "<= 5% of one core" if rate == 1000 else ""
        verdict = ("OK" if r["steady_cpu"] <= 0.05 else "OVER") if rate == 1000 else ""
        print(f"{rate:>8} {r['made'] / r['took']:>7.0f} {r['made']:>7} {r['seen']:>7} {r['events']:>8} {r['lost']:>5} {r['steady_cpu']*100:>8.2f}% {r['user_cpu']*100:>6.2f}%  {target} {verdict}".rstrip())
        sys.stdout.flush()

if __name__ == "__main__":
    main()
