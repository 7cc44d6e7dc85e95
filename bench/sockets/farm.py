#!/usr/bin/env python3
"""Socket farm for the conndoctor `sockets` benchmark (stdlib only).

Builds a large TCP socket table on loopback and holds it until killed or until
--hold seconds pass. Meant to run inside a throw-away network namespace
(bench/sockets/run.sh does `ip netns exec NS python3 farm.py ...`). The only
addresses it uses are 127.0.1.W on loopback.

For --size N the target mix is:
  ESTABLISHED  0.60 N  (0.30 N connections, both ends held open)
  CLOSE_WAIT   0.15 N  (server closes the accepted socket, client keeps its end;
                        the server end becomes an orphan FIN-WAIT-2 for 60 s)
  TIME_WAIT    0.25 N  (client closes first, then the server; the client end
                        sits in TIME-WAIT for 60 s)

The open-file limit (20,000 per process, cannot be raised) means the held
sockets are spread over several forked worker processes. Each worker listens
on its own loopback address (127.0.1.W) and several ports, so no destination
needs more than a few thousand ephemeral ports.

TIME-WAIT sockets expire after 60 s, so they are made last, by all workers at
once after a barrier, right before "READY" is printed.

Output (stdout, one line each): progress lines starting with "#", then
  READY size=N est=E cw=C tw=T finw2=F workers=W build_s=S tw_phase_s=P
or "FAILED ..." and a non-zero exit.
"""

import argparse
import ctypes
import math
import os
import resource
import select
import signal
import socket
import sys
import time

PORTS_PER_WORKER = 4
LISTEN_BASE_PORT = 7000          # below the widened ephemeral range run.sh sets (10000-65535)
BACKLOG = 4096                   # = net.core.somaxconn in a fresh namespace
BATCH = 512                      # connects per accept round; must stay below BACKLOG
FDS_PER_WORKER = 12000           # well below the 20,000 RLIMIT_NOFILE, leaves headroom
MAX_SIZE = 300000                # bound on what the farm agrees to build
MAX_WORKERS = 32


def log(msg):
    print(f"# {msg}", flush=True)


def die_with_parent():
    """Workers get SIGKILL if the parent dies, so a killed farm never leaks holders."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass  # the worker's own alarm still bounds its life


def split(total, parts):
    base, rem = divmod(total, parts)
    return [base + (1 if i < rem else 0) for i in range(parts)]


class Worker:
    def __init__(self, index, est, cw, tw):
        self.addr = f"127.0.1.{index + 1}"
        self.ports = [LISTEN_BASE_PORT + k for k in range(PORTS_PER_WORKER)]
        self.est, self.cw, self.tw = est, cw, tw
        self.listeners = []
        self.held = []           # keeps ESTABLISHED and CLOSE_WAIT ends open
        self.round = 0

    def listen(self):
        for port in self.ports:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((self.addr, port))
            s.listen(BACKLOG)
            s.settimeout(10)     # an accept that hangs means the farm is broken: fail, don't hang
            self.listeners.append(s)

    def make(self, n, kind):
        """Makes n connections and leaves them in the state `kind` asks for."""
        done = 0
        while done < n:
            b = min(BATCH, n - done)
            # One port per batch, rotating, so each (addr, port) destination gets a share.
            k = self.round % len(self.listeners)
            self.round += 1
            lst, port = self.listeners[k], self.ports[k]
            clients = []
            for _ in range(b):
                c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                c.connect((self.addr, port))   # loopback handshake completes inside connect()
                clients.append(c)
            servers = [lst.accept()[0] for _ in range(b)]
            if kind == "est":
                self.held.extend(clients)
                self.held.extend(servers)
            elif kind == "cw":
                for s in servers:        # server FIN -> client CLOSE_WAIT, server FIN_WAIT2
                    s.close()
                self.held.extend(clients)
            elif kind == "tw":
                for c in clients:        # active close by the client -> client TIME_WAIT
                    c.close()
                for s in servers:        # server was in CLOSE_WAIT; LAST_ACK -> gone
                    s.close()
            done += b


def worker_main(index, est, cw, tw, status_w, go_r, hold):
    die_with_parent()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C goes to the parent, which kills us
    signal.alarm(hold + 30)                          # hard bound even if the parent is stuck
    out = os.fdopen(status_w, "w", buffering=1)
    try:
        w = Worker(index, est, cw, tw)
        w.listen()
        w.make(est, "est")
        w.make(cw, "cw")
        out.write(f"stage1 {index}\n")
        # Barrier: wait for the parent's go, so every worker makes its TIME_WAITs together.
        if os.read(go_r, 1) != b"g":
            os._exit(1)
        t0 = time.monotonic()
        w.make(tw, "tw")
        out.write(f"ready {index} {time.monotonic() - t0:.3f}\n")
    except Exception as e:  # report and exit; the parent turns this into FAILED
        out.write(f"error {index} {type(e).__name__}: {e}\n")
        os._exit(1)
    out.close()
    # Hold the sockets until killed (or the alarm fires).
    while True:
        signal.pause()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, required=True, help="target number of TCP sockets")
    ap.add_argument("--hold", type=int, default=300,
                    help="seconds to hold the table before exiting by itself (default 300)")
    ap.add_argument("--build-timeout", type=int, default=180,
                    help="give up if the table is not built within this many seconds")
    args = ap.parse_args()

    if not 10 <= args.size <= MAX_SIZE:
        sys.exit(f"FAILED --size must be between 10 and {MAX_SIZE}")
    if not 1 <= args.hold <= 3600:
        sys.exit("FAILED --hold must be between 1 and 3600 seconds")

    n_est_conn = round(args.size * 0.60 / 2)
    n_cw = round(args.size * 0.15)
    n_tw = round(args.size * 0.25)
    held_fds = 2 * n_est_conn + n_cw
    workers = min(MAX_WORKERS, max(2, math.ceil(held_fds / FDS_PER_WORKER)))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    need = math.ceil(held_fds / workers) + PORTS_PER_WORKER + 64
    if need > hard:
        sys.exit(f"FAILED each worker needs {need} fds, RLIMIT_NOFILE hard limit is {hard}")

    log(f"size={args.size}: {n_est_conn} established pairs, {n_cw} close-wait, {n_tw} time-wait "
        f"over {workers} workers (~{need} fds each)")

    t_start = time.monotonic()
    children, status_rs, go_ws = [], [], []
    parts = zip(split(n_est_conn, workers), split(n_cw, workers), split(n_tw, workers))
    for i, (e, c, t) in enumerate(parts):
        sr, sw = os.pipe()
        gr, gw = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(sr)
            os.close(gw)
            worker_main(i, e, c, t, sw, gr, args.hold)
            os._exit(0)
        os.close(sw)
        os.close(gr)
        children.append(pid)
        status_rs.append(sr)
        go_ws.append(gw)

    def kill_all(*_):
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass

    def stop(signum, _frame):
        kill_all()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    readers = {fd: os.fdopen(fd, "r") for fd in status_rs}

    def collect(word):
        """Waits for one `word` line from every worker; returns their extra fields."""
        got = {}
        waiting = set(readers)   # a worker that answered closes its pipe later: stop watching it
        deadline = t_start + args.build_timeout
        while waiting:
            left = deadline - time.monotonic()
            if left <= 0:
                kill_all()
                print(f"FAILED build timed out after {args.build_timeout}s waiting for '{word}'", flush=True)
                sys.exit(1)
            ready, _, _ = select.select(list(waiting), [], [], left)
            for fd in ready:
                line = readers[fd].readline()
                parts_ = line.split()
                if not parts_ or parts_[0] != word:
                    kill_all()
                    print(f"FAILED worker: {line.strip() or 'exited without a word'}", flush=True)
                    sys.exit(1)
                got[int(parts_[1])] = parts_[2:]
                waiting.discard(fd)
        return got

    collect("stage1")
    log(f"established and close-wait sockets built in {time.monotonic() - t_start:.1f}s; making time-wait")
    for gw in go_ws:
        os.write(gw, b"g")
    t_tw = time.monotonic()
    collect("ready")
    build_s = time.monotonic() - t_start
    tw_phase_s = time.monotonic() - t_tw
    print(f"READY size={args.size} est={2 * n_est_conn} cw={n_cw} tw={n_tw} finw2={n_cw} "
          f"workers={workers} build_s={build_s:.1f} tw_phase_s={tw_phase_s:.1f}", flush=True)

    # Hold until killed, at most --hold seconds, then take the workers down with us.
    deadline = time.monotonic() + args.hold
    while time.monotonic() < deadline:
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    log(f"hold time of {args.hold}s is over; exiting")
    kill_all()


if __name__ == "__main__":
    main()
