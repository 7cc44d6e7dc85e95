#!/usr/bin/env python3
"""Real processes that hold TCP sockets in known states, for ConnDoctor's kernel tests.

Every mode prints "ready <pid>" once its sockets are in place, then stays alive (holding them) until it is
killed, stdin closes, or --lifetime seconds pass: bounded, never left running.

  server   --listen HOST:PORT:BEHAVIOUR ...   close: accept and close at once (the client gets CLOSE_WAIT)
                                              hold:  keep accepted sockets, echo what arrives
                                              drain: read until the client closes, then close (client TIME_WAIT)
                                              reply: answer each request with --bytes bytes, keep the connection
  leaky    --connect HOST:PORT --count N      opens N connections and never closes them
           [--bind ADDR]                      ... from this source address
  good     --connect HOST:PORT --count N      holds N connections and closes any the peer closes
           [--churn HOST:PORT --cycles M]     plus M connect/send/close cycles (this side closes first)
           [--wait-eof]                       ... or M cycles that wait for the server to close first
  stuck    --connect HOST:PORT                one plain connection and one with fast keepalive; on a
           [--send-after S]                   "go" line on stdin (or after S seconds), sends data on the plain one
  bulk     --listen HOST:PORT --bytes N       sends N bytes to every client, then closes (resets from clients are fine)
  peek     --connect HOST:PORT --read K       reads the first K bytes and closes with the rest unread (the kernel sends RST)
           [--count N]
  fetch    --connect HOST:PORT --read K         N times: send a request, read K bytes of the reply, wait 1 s (the
           [--count N] [--linger0]              rest arrives and is acknowledged), close; --linger0: SO_LINGER 0
           [--no-request]                       first (the kernel resets); --no-request: close without asking
  refused  --connect HOST:PORT [--count N]    connects N times to a port nobody listens on (each gets RST)
  chat     --connect HOST:PORT --count N      N connections to an echo server, --cycles request/response rounds each,
           --cycles M                         then a clean close after reading every answer
  pace     --connect HOST:PORT --rate R       after "ready", on a "go" line on stdin (or after --start-after S), for
           --seconds T [--peek K] [--hold MS] --seconds: R connections per second, each sending one byte (or reading
           [--keep]                           K bytes and closing with the rest unread), held MS ms, closed by this side;
                                              --keep: one connection that sends R bytes per second instead (well-behaved)
           [--bind IP] [--silent]             --bind: from this source address; --silent: send nothing (a bare TCP health
                                              check: connect and close, R times a second on a fixed schedule)
"""
import argparse, os, select, socket, sys, time


def parse_ep(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def read_up_to(c, n):
    """Reads n bytes, or fewer if the peer closes first."""
    got = 0
    while got < n:
        data = c.recv(n - got)
        if not data:
            break
        got += len(data)


def ready():
    print(f"ready {os.getpid()}", flush=True)


def hold(lifetime, socks, on_readable=None, stdin_cb=None):
    """Keep sockets open; close any the peer closed (only if on_readable says so)."""
    deadline = time.time() + lifetime
    while time.time() < deadline:
        watch = [s for s in socks if s.fileno() >= 0]
        if stdin_cb:
            watch.append(sys.stdin)
        if not watch:
            time.sleep(min(1.0, max(0.0, deadline - time.time())))
            continue
        r, _, _ = select.select(watch, [], [], min(1.0, max(0.0, deadline - time.time())))
        for s in r:
            if s is sys.stdin:
                line = sys.stdin.readline()
                if not line:
                    stdin_cb = None  # stdin closed: keep holding, stop reading it
                    continue
                stdin_cb(line.strip())
            elif on_readable:
                on_readable(s)


def run_server(args):
    listeners = {}
    for spec in args.listen:
        host, port, behaviour = spec.rsplit(":", 2)
        fam = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
        ls = socket.socket(fam, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((host.strip("[]"), int(port)))
        ls.listen(4096)
        listeners[ls] = behaviour
    conns = {}
    ready()
    deadline = time.time() + args.lifetime
    while time.time() < deadline:
        watch = list(listeners) + [c for c in conns if c.fileno() >= 0]
        r, _, _ = select.select(watch, [], [], 1.0)
        for s in r:
            if s in listeners:
                c, _ = s.accept()
                behaviour = listeners[s]
                if behaviour == "close":
                    c.close()
                else:
                    conns[c] = behaviour
            else:
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    conns.pop(s, None)
                    s.close()
                elif conns.get(s) == "hold":
                    s.sendall(data)
                elif conns.get(s) == "reply":
                    try:
                        s.sendall(b"r" * args.bytes)
                    except OSError:
                        conns.pop(s, None)
                        s.close()


def run_leaky(args):
    host, port = parse_ep(args.connect)
    source = (args.bind, 0) if args.bind else None
    socks = [socket.create_connection((host, port), source_address=source) for _ in range(args.count)]
    time.sleep(0.3)  # let the peer's FINs arrive: these sockets are now CLOSE_WAIT
    ready()
    hold(args.lifetime, [])  # keeps socks referenced: never reads, never closes
    del socks


def run_good(args):
    socks = []
    for target in args.connect.split(","):
        host, port = parse_ep(target)
        socks += [socket.create_connection((host, port)) for _ in range(args.count)]
    if args.churn:
        ch, cp = parse_ep(args.churn)
        for _ in range(args.cycles):
            c = socket.create_connection((ch, cp))
            if args.wait_eof:
                c.settimeout(10)
                while c.recv(4096):
                    pass
            else:
                c.sendall(b"x")
            c.close()
    ready()

    def on_readable(s):
        try:
            data = s.recv(65536)
        except OSError:
            data = b""
        if not data:
            socks.remove(s)
            s.close()

    hold(args.lifetime, socks, on_readable)


def run_stuck(args):
    host, port = parse_ep(args.connect)
    plain = socket.create_connection((host, port))
    ka = socket.create_connection((host, port))
    ka.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    ka.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
    ka.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
    ka.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 60)
    ready()

    def on_stdin(line):
        if line == "go":
            plain.sendall(b"y" * 1000)

    if args.send_after:
        time.sleep(args.send_after)
        on_stdin("go")
    hold(args.lifetime, [], None, on_stdin)


def run_bulk(args):
    import threading
    host, port = parse_ep(args.listen[0])
    ls = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(128)
    chunk = b"z" * 65536

    def serve(c):
        try:
            left = args.bytes
            while left > 0:
                left -= c.send(chunk[:min(left, len(chunk))])
        except OSError:
            pass  # the client went away: that is the point of the scenario
        c.close()

    ready()
    ls.settimeout(1.0)
    deadline = time.time() + args.lifetime
    while time.time() < deadline:
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def run_peek(args):
    host, port = parse_ep(args.connect)
    for _ in range(args.count):
        c = socket.create_connection((host, port))
        read_up_to(c, args.read)
        c.close()
    ready()
    hold(args.lifetime, [])


def run_fetch(args):
    import struct
    host, port = parse_ep(args.connect)
    for _ in range(args.count):
        c = socket.create_connection((host, port))
        if not args.no_request:
            c.sendall(b"GET /\n")
        read_up_to(c, args.read)
        time.sleep(1.0)
        if args.linger0:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    ready()
    hold(args.lifetime, [])


def run_refused(args):
    host, port = parse_ep(args.connect)
    for _ in range(args.count):
        try:
            socket.create_connection((host, port), timeout=5).close()
            sys.exit(f"{args.connect} accepted a connection: the port must be closed")
        except ConnectionRefusedError:
            pass
    ready()
    hold(args.lifetime, [])


def run_chat(args):
    host, port = parse_ep(args.connect)
    for _ in range(args.count):
        c = socket.create_connection((host, port))
        for i in range(args.cycles):
            msg = f"request {i}\n".encode()
            c.sendall(msg)
            got = b""
            while len(got) < len(msg):
                data = c.recv(len(msg) - len(got))
                if not data:
                    break
                got += data
        c.close()
    ready()
    hold(args.lifetime, [])


def run_pace(args):
    host, port = parse_ep(args.connect)
    ready()
    if args.start_after:
        time.sleep(args.start_after)
    else:
        sys.stdin.readline()
    step = 1.0 / args.rate
    start = time.time()
    end = start + args.seconds
    keep = socket.create_connection((host, port)) if args.keep else None
    i = 0
    while True:
        due = start + i * step
        if due >= end:
            break
        time.sleep(max(0.0, due - time.time()))
        i += 1
        if keep:
            keep.sendall(b"k")
            continue
        c = socket.create_connection((host, port), source_address=(args.bind, 0) if args.bind else None)
        if args.peek:
            read_up_to(c, args.peek)
        elif not args.silent:
            c.sendall(b"x")
        if args.hold:
            time.sleep(args.hold / 1000.0)
        c.close()
    print(f"done {i}", flush=True)
    hold(args.lifetime, [keep] if keep else [])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["server", "leaky", "good", "stuck", "bulk", "peek", "refused", "chat", "pace", "fetch"])
    p.add_argument("--listen", action="append", default=[])
    p.add_argument("--connect")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--churn")
    p.add_argument("--cycles", type=int, default=0)
    p.add_argument("--wait-eof", action="store_true")
    p.add_argument("--send-after", type=float, default=0)
    p.add_argument("--lifetime", type=float, default=300)
    p.add_argument("--bytes", type=int, default=8 << 20)
    p.add_argument("--read", type=int, default=100)
    p.add_argument("--rate", type=float, default=10)
    p.add_argument("--seconds", type=float, default=3)
    p.add_argument("--hold", type=float, default=0)
    p.add_argument("--keep", action="store_true")
    p.add_argument("--peek", type=int, default=0)
    p.add_argument("--start-after", type=float, default=0)
    p.add_argument("--bind")
    p.add_argument("--silent", action="store_true")
    p.add_argument("--linger0", action="store_true")
    p.add_argument("--no-request", action="store_true")
    args = p.parse_args()
    {"server": run_server, "leaky": run_leaky, "good": run_good, "stuck": run_stuck,
     "bulk": run_bulk, "peek": run_peek, "refused": run_refused, "chat": run_chat, "pace": run_pace,
     "fetch": run_fetch}[args.mode](args)


if __name__ == "__main__":
    main()
