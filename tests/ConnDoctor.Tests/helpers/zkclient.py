#!/usr/bin/env python3
"""ZooKeeper clients with a chosen source address, for ConnDoctor's tests against a real server.

  nosession --server H:P --source IP --count N      N TCP connections that close before any session exists
  sessions  --server H:P --source IP --count N      N real sessions (kazoo), each creates an ephemeral node, then closes
  abandon   --server H:P --source IP --count N      N sessions with an ephemeral node each, then exit without close():
                                                     the server expires them after the session timeout
  hold      --server H:P --source IP --count N        N raw connections held open (to reach maxClientCnxns)
             [--extra K --gap S]                     then K more connections, one every S seconds (refused at the limit),
             [--keep-open S]                         then all are closed (with --keep-open: prints "held" and keeps them
                                                     until stdin closes, at most S seconds)
  tree      --server H:P --path P --count N         one kazoo session creates N ephemeral nodes P/eph-i and
             [--persistent M --data D --hold S]      M persistent nodes P/per-i (data D), under P and P/sub;
                                                     prints one JSON line (session id, nodes), then holds the
                                                     session until stdin closes (at most S seconds) and closes it
  list      --server H:P --path P                   prints one JSON line: P's children with ephemeralOwner and data
  leak      --server H:P --source IP --count N      the session-per-task leak: every 1/R seconds a new kazoo session
             --rate R [--path P --hold S]            creates one ephemeral node P/task-i and is never closed; prints one
                                                     JSON line per task ({"task": i, "t": unix time, "session": id}), then
                                                     "done" and holds every session until stdin closes (at most S seconds)
  keep      --server H:P --source IP --count N      N kazoo sessions without nodes, held until stdin closes (at most S s)
             [--hold S]
             [--timeout T]                          the session timeout asked (4 s by default; keep and leak)
Everything is bounded: short timeouts, fixed counts.
"""
import argparse, json, select, socket, sys, time

_orig = socket.create_connection


def bind_source(ip):
    # kazoo opens its socket through socket.create_connection: make every connection leave from ip.
    def create_connection(address, timeout=None, source_address=None, **kw):
        return _orig(address, timeout, (ip, 0))
    socket.create_connection = create_connection


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["nosession", "sessions", "abandon", "hold", "tree", "list", "leak", "keep"])
    p.add_argument("--server", required=True)
    p.add_argument("--source")
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--path", default="/cd-tree")
    p.add_argument("--persistent", type=int, default=0)
    p.add_argument("--data", default="")
    p.add_argument("--hold", type=float, default=30)
    p.add_argument("--extra", type=int, default=0)
    p.add_argument("--gap", type=float, default=0.3)
    p.add_argument("--keep-open", type=float, default=0)
    p.add_argument("--rate", type=float, default=1.0)
    p.add_argument("--timeout", type=float, default=4)   # the session timeout asked (keep, leak)
    a = p.parse_args()
    host, port = a.server.rsplit(":", 1)
    server = (host, int(port))
    if a.source:
        bind_source(a.source)
    if a.mode == "tree":
        tree(a)
        return
    if a.mode == "list":
        listing(a)
        return
    if a.mode in ("leak", "keep"):
        leak(a, nodes=a.mode == "leak")
        return
    if a.mode == "nosession":
        for _ in range(a.count):
            s = socket.create_connection(server, 5)
            s.close()
            time.sleep(0.01)
    elif a.mode == "sessions":
        from kazoo.client import KazooClient
        for i in range(a.count):
            zk = KazooClient(hosts=a.server, timeout=4)
            zk.start(timeout=10)
            zk.create(f"/cd-test-{a.source}-{i}", ephemeral=True)
            zk.stop()
            zk.close()
    elif a.mode == "abandon":
        import os
        from kazoo.client import KazooClient
        clients = []
        for i in range(a.count):
            zk = KazooClient(hosts=a.server, timeout=4)
            zk.start(timeout=10)
            zk.create(f"/cd-task-{a.source}-{i}", ephemeral=True)
            clients.append(zk)
        print("done", flush=True)
        os._exit(0)  # the leak: no close(), the sockets die with the process
    else:
        held = [socket.create_connection(server, 5) for _ in range(a.count)]
        time.sleep(0.5)
        for _ in range(a.extra):
            try:
                s = socket.create_connection(server, 5)
                s.settimeout(2)
                s.recv(1)      # the server closes a refused connection at once
                s.close()
            except OSError:
                pass           # or resets it before connect() returns
            time.sleep(a.gap)
        if a.keep_open > 0:
            print("held", flush=True)
            select.select([sys.stdin], [], [], a.keep_open)   # until the test closes our stdin
        for s in held:
            s.close()
    print("done", flush=True)


def tree(a):
    from kazoo.client import KazooClient
    zk = KazooClient(hosts=a.server, timeout=4)
    zk.start(timeout=10)
    data = a.data.encode()
    nodes = []
    for parent in (a.path, a.path + "/sub"):
        zk.ensure_path(parent)
        for i in range(a.count):
            nodes.append(zk.create(f"{parent}/eph-{i}", data, ephemeral=True))
        for i in range(a.persistent):
            nodes.append(zk.create(f"{parent}/per-{i}", data))
    print(json.dumps({"session": zk.client_id[0], "nodes": nodes}), flush=True)
    select.select([sys.stdin], [], [], a.hold)   # until the test closes our stdin
    zk.stop()
    zk.close()


def leak(a, nodes):
    from kazoo.client import KazooClient
    clients = []
    start = time.time()
    if nodes:
        setup = KazooClient(hosts=a.server, timeout=4)
        setup.start(timeout=10)
        setup.ensure_path(a.path)
        setup.stop()
        setup.close()
    for i in range(a.count):
        if nodes:
            # Paced from the start, so the rate holds however long a session setup takes.
            delay = start + i / a.rate - time.time()
            if delay > 0:
                time.sleep(delay)
        zk = KazooClient(hosts=a.server, timeout=a.timeout)
        zk.start(timeout=10)
        if nodes:
            zk.create(f"{a.path}/task-{i}", b"", ephemeral=True)
        clients.append(zk)   # the leak: never stopped, never closed
        print(json.dumps({"task": i, "t": time.time(), "session": zk.client_id[0]}), flush=True)
    print("done", flush=True)
    select.select([sys.stdin], [], [], a.hold)
    for zk in clients:       # the test is over: leave the server clean
        zk.stop()
        zk.close()


def listing(a):
    from kazoo.client import KazooClient
    zk = KazooClient(hosts=a.server, timeout=4)
    zk.start(timeout=10)
    children = []
    for name in sorted(zk.get_children(a.path)):
        data, stat = zk.get(f"{a.path.rstrip('/')}/{name}")
        children.append({"name": name, "ephemeralOwner": stat.ephemeralOwner, "data": data.hex(),
                         "numChildren": stat.numChildren})
    print(json.dumps({"session": zk.client_id[0], "children": children}), flush=True)
    zk.stop()
    zk.close()


if __name__ == "__main__":
    main()
