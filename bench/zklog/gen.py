#!/usr/bin/env python3
"""Generate a realistic ZooKeeper 3.4 server log of a given size, plus the true per-IP counts.

Usage: gen.py PATH [--size-mb 2048] [--seed 1] [--myid ID]

Writes PATH (plain text, time-ordered over about one day from 2016-09-19 00:00) and
PATH.truth.json: what was generated per client IP, counted as conndoctor's JSON names it
(accepted, endOfStreamNoSession, ..., fourLetterWords), so a run can check any tool's answer.

The mix, as shares of the file's bytes (the same at any size; rates scale with the size):
  reconnect storm   60%  3 IPs: accept, "caught end of stream exception" + EndOfStreamException
                         + 3 stack lines, "Closed socket connection ... (no session established)".
                         10.0.20.141 02:13-09:47, 10.0.31.17 13:05-17:21, 10.0.20.88 in short bursts
  normal sessions   26%  ~420 IPs (skewed: a few busy app servers, a long tail): accept, attempt,
                         Established session; later a clean close, or a client crash (end of
                         stream with session, then Expiring session), or a half-open expiry
  maxClientCnxns     7%  10.0.20.9 holds 60 sessions, then is refused for an hour (19:58-20:58)
  4lw monitoring     4%  ruok/mntr/stat/srvr from two monitoring hosts and 127.0.0.1
  other INFO/WARN    3%  KeeperException noise, snapshots, new txn log files, fsync warnings,
                         purge task; with --myid also leader election notifications
The line layout is 3.4's log4j "%d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] - %m%n";
the default myid is empty, as on a standalone server.

Speed: ~30 s for 2 GiB on one core. Lines are formatted from a few fixed templates and
written in 16 MB blocks; the file is cut at the last whole event that fits in the size.
"""
import argparse
import calendar
import heapq
import json
import math
import os
import random
import sys
import time

NIO = "NIOServerCxn.Factory:0.0.0.0/0.0.0.0:2181"
START = calendar.timegm((2016, 9, 19, 0, 0, 0))    # naive log time; gmtime avoids the local zone
DAY = 86400
SID_BASE = 0x157434BFD9A0000                        # 3.4 session ids: server start time << 24 | counter
ZXID_BASE = 0x2C00000000

# Event kinds. Each is one block of consecutive lines, written by one thread at (about) one time.
STORM, OPEN, CLOSE, CRASH, EXPIRE, HALFOPEN, FLW, REFUSE, NOISE = range(9)
KIND_NAMES = ["storm", "session-open", "session-close", "session-crash", "session-expire",
              "session-halfopen-expire", "4lw", "refused", "noise"]
# What each kind adds to its IP's counters (the names of conndoctor's JSON .clients[] fields).
FIELDS = ["accepted", "endOfStreamNoSession", "endOfStreamWithSession", "closedNoSession",
          "closedWithSession", "refused", "sessionAttempts", "sessionsEstablished",
          "sessionsExpired", "fourLetterWords"]
DELTAS = {
    STORM: {"accepted": 1, "endOfStreamNoSession": 1, "closedNoSession": 1},
    OPEN: {"accepted": 1, "sessionAttempts": 1, "sessionsEstablished": 1},
    CLOSE: {"closedWithSession": 1},
    CRASH: {"endOfStreamWithSession": 1, "closedWithSession": 1},
    EXPIRE: {"sessionsExpired": 1},
    HALFOPEN: {"sessionsExpired": 1, "closedWithSession": 1},
    FLW: {"accepted": 1, "closedNoSession": 1, "fourLetterWords": 1},
    REFUSE: {"refused": 1},
    NOISE: {},
}
# How many ms a block spans (its last line's offset): keeps the whole file in time order.
SPAN = [1, 9, 1, 1, 2, 3, 2, 0, 1]

STACK = ("    at org.apache.zookeeper.server.NIOServerCnxn.doIO(NIOServerCnxn.java:228)\n"
         "    at org.apache.zookeeper.server.NIOServerCnxnFactory.run(NIOServerCnxnFactory.java:208)\n"
         "    at java.lang.Thread.run(Thread.java:662)\n")

SHARES = {"storm": 0.60, "normal": 0.26, "refuse": 0.07, "flw": 0.04, "noise": 0.03}
STORM_IPS = ["10.0.20.141", "10.0.31.17", "10.0.20.88"]
STORM_SPLIT = [0.38 / 0.60, 0.17 / 0.60, 0.05 / 0.60]   # of the storm share
LIMIT_IP, LIMIT_MAX = "10.0.20.9", 60
MONITORS = ["10.0.5.10", "10.0.5.11", "127.0.0.1"]


def hms(h, m, s=0):
    return h * 3600 + m * 60 + s


class Templates:
    """The 3.4 lines, as %-templates: one string format per event block."""

    def __init__(self, myid):
        p = " [myid:%s] - " % myid
        quorum = myid != ""
        sync = "CommitProcessor:%s" % myid if quorum else "SyncThread:0"
        proc = "ProcessThread(sid:%s cport:-1):" % (myid if quorum else "0")
        acc = "%s" + p + "INFO  [" + NIO + ":NIOServerCnxnFactory@197] - Accepted socket connection from /%s:%d\n"
        eos = "%s" + p + "WARN  [" + NIO + ":NIOServerCnxn@357] - caught end of stream exception\n"
        closed = "%s" + p + "INFO  [" + NIO + ":NIOServerCnxn@1007] - Closed socket connection for client /%s:%d "
        term = "%s" + p + "INFO  [" + proc + ":PrepRequestProcessor@494] - Processed session termination for sessionid: 0x%x\n"
        expiring = "%s" + p + "INFO  [SessionTracker:ZooKeeperServer@347] - Expiring session 0x%x, timeout of %dms exceeded\n"
        self.storm = (acc + eos + "EndOfStreamException: Unable to read additional data from client sessionid 0x0, likely client has closed socket\n"
                      + STACK + closed + "(no session established for client)\n")
        self.open = (acc
                     + "%s" + p + "INFO  [" + NIO + ":ZooKeeperServer@868] - Client attempting to establish new session at /%s:%d\n"
                     + "%s" + p + "INFO  [" + sync + ":ZooKeeperServer@617] - Established session 0x%x with negotiated timeout %d for client /%s:%d\n")
        self.close = term + closed + "which had sessionid 0x%x\n"
        self.crash = (eos + "EndOfStreamException: Unable to read additional data from client sessionid 0x%x, likely client has closed socket\n"
                      + STACK + closed + "which had sessionid 0x%x\n")
        self.expire = expiring + term
        self.halfopen = expiring + term + closed + "which had sessionid 0x%x\n"
        self.flw = (acc
                    + "%s" + p + "INFO  [" + NIO + ":NIOServerCnxn@827] - Processing %s command from /%s:%d\n"
                    + "%s" + p + "INFO  [Thread-%d:NIOServerCnxn@1007] - Closed socket connection for client /%s:%d (no session established for client)\n")
        self.refuse = "%s" + p + "WARN  [" + NIO + ":NIOServerCnxnFactory@193] - Too many connections from /%s - max is " + str(LIMIT_MAX) + "\n"
        self.noise = [
            # (weight, template, what it needs)
            (60, "%s" + p + "INFO  [" + proc + ":PrepRequestProcessor@649] - Got user-level KeeperException when processing "
                 "sessionid:0x%x type:create cxid:0x%x zxid:0x%x txntype:-1 reqpath:n/a Error Path:%s Error:KeeperErrorCode = NodeExists for %s\n", "kex"),
            (12, "%s" + p + "WARN  [" + sync + ":FileTxnLog@334] - fsync-ing the write ahead log in " + sync
                 + " took %dms which will adversely effect operation latency. See the ZooKeeper troubleshooting guide\n", "fsync"),
            (10, "%s" + p + "INFO  [Snapshot Thread:FileTxnSnapLog@240] - Snapshotting: 0x%x to /var/lib/zookeeper/version-2/snapshot.%x\n"
                 "%s" + p + "INFO  [" + sync + ":FileTxnLog@199] - Creating new log file: log.%x\n", "snap"),
            (4, "%s" + p + "INFO  [PurgeTask:DatadirCleanupManager$PurgeTask@138] - Purge task started.\n"
                "%s" + p + "INFO  [PurgeTask:DatadirCleanupManager$PurgeTask@144] - Purge task completed.\n", "purge"),
        ]
        if quorum:
            self.noise.append((14, "%s" + p + "INFO  [WorkerReceiver[myid=" + myid + "]:FastLeaderElection@597] - Notification: 1 (message format version), "
                                   "%d (n.leader), 0x%x (n.zxid), 0x%x (n.round), LOOKING (n.state), %d (n.sid), 0x2c (n.peerEpoch) FOLLOWING (my state)\n", "elect"))


class Generator:
    def __init__(self, size, seed, myid):
        self.size = size
        self.r = random.Random(seed)
        self.t = Templates(myid)
        self.sec_cache = (-1, "")
        self.sid = 0            # sessions handed out
        self.zxid = 0
        self.thread = 1000      # 4lw commands each run on a new "Thread-N"
        self.myid = myid
        self.ips, self.cum = self.client_pool()
        self.timeout = {ip: self.r.choice([30000] * 6 + [10000, 40000, 6000]) for ip in self.ips}
        self.timeout.update({ip: 30000 for ip in STORM_IPS + [LIMIT_IP]})

    # ---- who the clients are ------------------------------------------------------------------
    def client_pool(self):
        """~420 client IPs with Zipf-like weights: a few busy app servers and a long tail."""
        r = self.r
        ips = set()
        while len(ips) < 416:
            ips.add("10.0.%d.%d" % (r.randint(1, 47), r.randint(2, 254)))
        ips -= set(STORM_IPS + [LIMIT_IP] + MONITORS)
        ips = sorted(ips)
        r.shuffle(ips)
        # The storm and limit IPs are ordinary clients too, before and after their incidents.
        for k, ip in enumerate(STORM_IPS + [LIMIT_IP]):
            ips.insert(20 + 15 * k, ip)
        cum, total = [], 0.0
        for rank, _ in enumerate(ips, 1):
            total += 1.0 / rank ** 0.9
            cum.append(total)
        return ips, cum

    # ---- when things happen (weights per second of the day; scaled to the size later) --------
    def profiles(self):
        r = self.r
        sec = range(DAY)

        def window(a, b, ramp=300):
            # On from a to b, ramping up and down over `ramp` seconds, with a slow wobble.
            w = [0.0] * DAY
            for s in range(a, b):
                edge = min(1.0, (s - a) / ramp, (b - s) / ramp)
                w[s] = edge * (0.8 + 0.4 * ((s // 600) % 3) / 2)
            return w

        storm_a = window(hms(2, 13, 7), hms(9, 47, 51))
        storm_b = window(hms(13, 5, 40), hms(17, 21, 10))
        storm_c = [0.0] * DAY
        for _ in range(8):      # short bursts all day
            a = r.randint(hms(0, 30), hms(23, 0))
            for s, v in enumerate(window(a, a + r.randint(360, 1500), 30)):
                storm_c[s] += v
        limit_a, limit_b = hms(19, 58, 12), hms(20, 58, 41)
        refuse = [0.0] * DAY
        for s in range(limit_a, limit_b):
            refuse[s] = 1.0 if (s // 37) % 9 else 0.6   # retries come in waves
        # Daytime peak around 14:00, a floor at night.
        normal = [0.35 + 0.65 * max(0.0, math.sin(math.pi * ((s / 3600.0) - 6) / 16)) if 6 <= s / 3600.0 <= 22 else 0.35 for s in sec]
        flat = [1.0] * DAY
        return {"storm_a": storm_a, "storm_b": storm_b, "storm_c": storm_c, "refuse": refuse,
                "normal": normal, "flw": flat, "noise": normal}, (limit_a, limit_b)

    # ---- formatting ---------------------------------------------------------------------------
    def ts(self, ms):
        s = ms // 1000
        if s != self.sec_cache[0]:
            self.sec_cache = (s, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(START + s)))
        return "%s,%03d" % (self.sec_cache[1], ms % 1000)

    def port(self):
        return 32768 + int(self.r.random() * 28232)

    def render(self, ms, kind, ip, port, x):
        """The text of one event block at time ms. x: the session id, or the 4lw / noise variant."""
        t, ts = self.t, self.ts
        if kind == STORM:
            t0, t1 = ts(ms), ts(ms + 1)
            return t.storm % (t0, ip, port, t0, t1, ip, port)
        if kind == OPEN:
            t0, t1 = ts(ms), ts(ms + 9)
            return t.open % (t0, ip, port, t0, ip, port, t1, SID_BASE + x, self.timeout[ip], ip, port)
        if kind == CLOSE:
            t0, t1 = ts(ms), ts(ms + 1)
            s = SID_BASE + x
            return t.close % (t0, s, t1, ip, port, s)
        if kind == CRASH:
            t0, t1 = ts(ms), ts(ms + 1)
            s = SID_BASE + x
            return t.crash % (t0, s, t1, ip, port, s)
        if kind == EXPIRE:
            s = SID_BASE + x
            return t.expire % (ts(ms), s, self.timeout[ip], ts(ms + 2), s)
        if kind == HALFOPEN:
            s = SID_BASE + x
            return t.halfopen % (ts(ms), s, self.timeout[ip], ts(ms + 2), s, ts(ms + 3), ip, port, s)
        if kind == FLW:
            t0, t1 = ts(ms), ts(ms + 2)
            self.thread += 1
            return t.flw % (t0, ip, port, t0, x, ip, port, t1, self.thread, ip, port)
        if kind == REFUSE:
            return t.refuse % (ts(ms), ip)
        # NOISE: x is the template index
        tpl, what = t.noise[x][1], t.noise[x][2]
        r = self.r
        t0 = ts(ms)
        if what == "kex":
            path = r.choice(["/brokers/ids", "/consumers/app/ids", "/controller", "/hbase/rs", "/locks/job-%d" % r.randint(1, 40)])
            sid = SID_BASE + max(0, self.sid - 1 - int(r.random() * 50))
            return tpl % (t0, sid, r.randint(1, 400), ZXID_BASE + self.zxid, path, path)
        if what == "fsync":
            return tpl % (t0, r.randint(1001, 9000))
        if what == "snap":
            z = ZXID_BASE + self.zxid
            return tpl % (t0, z, z, ts(ms + 1), z + 1)
        if what == "purge":
            return tpl % (t0, ts(ms + 1))
        return tpl % (t0, r.randint(1, 3), ZXID_BASE + self.zxid, r.randint(1, 9), r.randint(1, 3))

    # ---- calibration: mean bytes per event of each mix category --------------------------------
    def mean_bytes(self):
        saved = (self.thread, self.sid, self.r.getstate())
        n = 400
        def avg(kind, ip, x):
            return sum(len(self.render(1000 * i, kind, ip, 50000 + i, x(i))) for i in range(n)) / n
        ip = self.ips[0]
        open_ = avg(OPEN, ip, lambda i: i) + 0.80 * avg(CLOSE, ip, lambda i: i) \
            + 0.12 * (avg(CRASH, ip, lambda i: i) + avg(EXPIRE, ip, lambda i: i)) + 0.05 * avg(HALFOPEN, ip, lambda i: i)
        weights = [w for w, _, _ in self.t.noise]
        noise = sum(w * avg(NOISE, "", lambda i, k=k: k) for k, w in enumerate(weights)) / sum(weights)
        b = {"storm": avg(STORM, STORM_IPS[0], lambda i: 0), "normal": open_, "refuse": avg(REFUSE, LIMIT_IP, lambda i: 0),
             "flw": avg(FLW, MONITORS[0], lambda i: "ruok"), "noise": noise}
        self.thread, self.sid = saved[0], saved[1]
        self.r.setstate(saved[2])
        return b

    # ---- the run ------------------------------------------------------------------------------
    def run(self, path):
        r = self.r
        rnd = r.random
        prof, (limit_a, limit_b) = self.profiles()
        b = self.mean_bytes()
        # Events per second per category: share of the bytes / bytes per event, spread over the
        # day by the profile. 0.2% extra so the size is reached ~20 min before midnight, then cut.
        target = self.size * 1.002
        def rate(name, share):
            total = sum(prof[name]) or 1.0
            return [share * target / b[name.split("_")[0]] * w / total for w in prof[name]]
        storm_rates = [rate(n, SHARES["storm"] * f) for n, f in zip(["storm_a", "storm_b", "storm_c"], STORM_SPLIT)]
        normal_rate = rate("normal", SHARES["normal"])
        refuse_rate = rate("refuse", SHARES["refuse"])
        flw_rate = rate("flw", SHARES["flw"])
        noise_rate = rate("noise", SHARES["noise"])
        noise_cum, acc_w = [], 0
        for w, _, _ in self.t.noise:
            acc_w += w
            noise_cum.append(acc_w)
        flw_cmds = ["ruok"] * 14 + ["mntr"] * 3 + ["stat", "srvr"]

        def pick_noise(u):      # which noise template, by weight
            return next(i for i, c in enumerate(noise_cum) if u < c)

        acc = [0.0] * 7          # fractional events carried to the next second, per category
        pending = []             # heap of (ms, seq, kind, ip, port, session): closes and expiries to come
        seq = 0
        tally = {}               # (ip, kind) -> events written
        kind_bytes = [0] * len(KIND_NAMES)
        written = lines = 0
        last_ms = 0
        buf, buf_len = [], 0
        first_ts = last_ts = None
        out = open(path, "wb")
        t_start = time.time()
        s = 0
        done = False
        while not done:
            day = s < DAY
            base = s * 1000
            ems = []                 # this second's events: (ms, kind, ip, port, x)
            ps = s % DAY             # after midnight (if the size is not reached): normal traffic only

            def add(k, rate_now, kind, ip_of, x_of):
                a = acc[k] + rate_now * (0.6 + 0.8 * rnd())   # jitter: traffic is not a metronome
                n = int(a)
                acc[k] = a - n
                for _ in range(n):
                    ems.append((base + int(rnd() * 1000), kind, ip_of(), self.port(), x_of()))

            if day:
                for k in range(3):
                    if storm_rates[k][s]:
                        ip = STORM_IPS[k]
                        add(k, storm_rates[k][s], STORM, lambda ip=ip: ip, lambda: 0)
                if refuse_rate[s]:
                    add(3, refuse_rate[s], REFUSE, lambda: LIMIT_IP, lambda: 0)
                if s == limit_a - 60:
                    # The limit IP fills its 60 connections in the minute before it is refused,
                    # and holds them until a few seconds after the incident.
                    for i in range(LIMIT_MAX):
                        ems.append((base + i * 950 + int(rnd() * 900), OPEN, LIMIT_IP, self.port(), (limit_b - s) * 1000 + int(rnd() * 20000)))
            n_norm = acc[4] + normal_rate[ps] * (0.6 + 0.8 * rnd())
            k = int(n_norm)
            acc[4] = n_norm - k
            if k:
                for ip in r.choices(self.ips, cum_weights=self.cum, k=k):
                    ems.append((base + int(rnd() * 1000), OPEN, ip, self.port(), None))
            add(5, flw_rate[ps], FLW, lambda: MONITORS[int(rnd() * 2.2)], lambda: flw_cmds[int(rnd() * len(flw_cmds))])
            add(6, noise_rate[ps], NOISE, lambda: "", lambda: pick_noise(rnd() * acc_w))
            limit = base + 1000
            while pending and pending[0][0] < limit:
                ms, _, kind, ip, port, x = heapq.heappop(pending)
                ems.append((ms, kind, ip, port, x))
            ems.sort(key=lambda e: e[0])

            for ms, kind, ip, port, x in ems:
                if ms < last_ms:
                    ms = last_ms
                if kind == OPEN:
                    hold, x = x, self.sid           # sessions are numbered in the order they start
                text = self.render(ms, kind, ip, port, x)
                if written + len(text) > self.size:
                    done = True
                    break
                written += len(text)
                buf.append(text)
                buf_len += len(text)
                last_ms = ms + SPAN[kind]
                if first_ts is None:
                    first_ts = text[:23]
                key = (ip, kind)
                tally[key] = tally.get(key, 0) + 1
                kind_bytes[kind] += len(text)
                if kind == OPEN:
                    self.sid += 1
                    self.zxid += 1
                    self.schedule(pending, ms, ip, port, x, hold, seq)
                    seq += 1
                elif kind != STORM and kind != FLW and kind != REFUSE:
                    self.zxid += 1
                if buf_len >= 16 << 20:
                    block = "".join(buf)
                    lines += block.count("\n")
                    last_ts = self.last_timestamp(block) or last_ts
                    out.write(block.encode("ascii"))
                    buf, buf_len = [], 0
            s += 1
            if s % 3600 == 0:
                print("  %02d:00  %5.0f MB  %4.0f s" % (s // 3600 % 24, written / 1e6, time.time() - t_start), file=sys.stderr)
        block = "".join(buf)
        lines += block.count("\n")
        last_ts = self.last_timestamp(block) or last_ts
        out.write(block.encode("ascii"))
        out.close()
        return self.truth(path, tally, kind_bytes, written, lines, first_ts, last_ts, time.time() - t_start)

    def schedule(self, pending, ms, ip, port, sid, hold, seq):
        """What becomes of a session: closed by its client, lost by a client crash, or expired half-open."""
        r = self.r
        if hold is not None:                         # the limit IP's held connections
            heapq.heappush(pending, (ms + hold, seq, CLOSE, ip, port, sid))
            return
        life = int(r.lognormvariate(11.7, 1.4))      # ms; median ~2 min, a long tail of hours
        fate = r.random()
        if fate < 0.80:
            heapq.heappush(pending, (ms + life, seq, CLOSE, ip, port, sid))
        elif fate < 0.92:
            heapq.heappush(pending, (ms + life, seq, CRASH, ip, port, sid))
            heapq.heappush(pending, (ms + life + self.timeout[ip] + int(r.random() * 2000), seq, EXPIRE, ip, port, sid))
        elif fate < 0.97:
            heapq.heappush(pending, (ms + life + self.timeout[ip], seq, HALFOPEN, ip, port, sid))
        # else: still open when the log ends

    @staticmethod
    def last_timestamp(block):
        i = len(block)
        while i > 0:
            j = block.rfind("\n", 0, i - 1)
            line = block[j + 1:i]
            if len(line) > 23 and line[4] == "-" and line[10] == " ":
                return line[:23]
            i = j + 1
            if j < 0:
                return None
        return None

    def truth(self, path, tally, kind_bytes, written, lines, first_ts, last_ts, secs):
        clients, kinds = {}, {}
        for (ip, kind), n in tally.items():
            kinds[KIND_NAMES[kind]] = kinds.get(KIND_NAMES[kind], 0) + n
            if not ip:
                continue
            c = clients.setdefault(ip, dict.fromkeys(FIELDS, 0))
            for f, d in DELTAS[kind].items():
                c[f] += d * n
        rows = [dict(ip=ip, **c) for ip, c in clients.items()]
        rows.sort(key=lambda c: (-c["accepted"], c["ip"]))
        doc = {"generator": "bench/zklog/gen.py", "file": os.path.abspath(path), "target_bytes": self.size,
               "bytes": written, "lines": lines, "first": first_ts, "last": last_ts, "myid": self.myid,
               "seconds": round(secs, 1), "events": kinds,
               "event_bytes": {KIND_NAMES[k]: n for k, n in enumerate(kind_bytes) if n}, "clients": rows}
        with open(path + ".truth.json", "w") as f:
            json.dump(doc, f, indent=1)
        return doc


def main():
    ap = argparse.ArgumentParser(description="Generate a realistic ZooKeeper 3.4 server log and its true per-IP counts.")
    ap.add_argument("path")
    ap.add_argument("--size-mb", type=float, default=2048, help="size in MiB (default 2048 = 2 GiB)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--myid", default="", help="server id: '' (default) is a standalone server; a number adds quorum threads and election noise")
    a = ap.parse_args()
    size = int(a.size_mb * 1024 * 1024)
    doc = Generator(size, a.seed, a.myid).run(a.path)
    print("wrote %s: %d bytes, %d lines, %s to %s, in %.0f s" % (a.path, doc["bytes"], doc["lines"], doc["first"], doc["last"], doc["seconds"]), file=sys.stderr)
    print("events: " + ", ".join("%s %d" % kv for kv in sorted(doc["events"].items(), key=lambda kv: -kv[1])), file=sys.stderr)
    print("top IPs by accepted connections (truth in %s.truth.json):" % a.path, file=sys.stderr)
    for c in doc["clients"][:5]:
        print("  %-15s accepted %9d  refused %7d  sessions %7d" % (c["ip"], c["accepted"], c["refused"], c["sessionsEstablished"]), file=sys.stderr)


if __name__ == "__main__":
    main()
