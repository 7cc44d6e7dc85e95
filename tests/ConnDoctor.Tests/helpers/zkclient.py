#!/usr/bin/env python3
"""ZooKeeper clients with a chosen source address, for ConnDoctor's tests against a real server.

  nosession --server H:P --source IP --count N      N TCP connections that close before any session exists
  sessions  --server H:P --source IP --count N      N real sessions (kazoo), each creates an ephemeral node, then closes
  abandon   --server H:P --source IP --count N      N sessions with an ephemeral node each, then exit without close():
                                                     the server expires them after the session timeout
  hold      --server H:P --source IP --count N        N raw connections held open (to reach maxClientCnxns)
             [--extra K --gap S]                     then K more connections, one every S seconds (refused at the limit),
                                                     then all are closed
Everything is bounded: short timeouts, fixed counts.
"""
import argparse, socket, sys, time

_orig = socket.create_connection


def bind_source(ip):
    # kazoo opens its socket through socket.create_connection: make every connection leave from ip.
    def create_connection(address, timeout=None, source_address=None, **kw):
        return _orig(address, timeout, (ip, 0))
    socket.create_connection = create_connection


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["nosession", "sessions", "abandon", "hold"])
    p.add_argument("--server", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--extra", type=int, default=0)
    p.add_argument("--gap", type=float, default=0.3)
    a = p.parse_args()
    host, port = a.server.rsplit(":", 1)
    server = (host, int(port))
    bind_source(a.source)
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
        for s in held:
            s.close()
    print("done", flush=True)


if __name__ == "__main__":
    main()
