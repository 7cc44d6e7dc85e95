#!/usr/bin/env python3
"""Holds idle TCP connections open for the agent's overhead benchmark (bench/agent/run.sh).

One process listens on HOST:PORT, connects COUNT times to itself and accepts each, then sleeps for LIFETIME seconds
without selecting: 2 x COUNT sockets in the namespace's table (the client end ESTABLISHED, the accepted end
ESTABLISHED) plus the listener, 2 x COUNT + 1 file descriptors. Run several (one port each) to pass the per-process
open-files limit. Prints "held N" once every connection is up. Bounded: COUNT connections, LIFETIME seconds.
"""
import resource
import socket
import sys
import time


def main():
    host, port, count, lifetime = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * count + 16
    if need > hard:
        sys.exit(f"hold.py: {count} connections need {need} open files, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind((host, port))
    lst.listen(4096)
    held = []
    deadline = time.time() + lifetime
    for _ in range(count):
        if time.time() >= deadline:
            break
        c = socket.create_connection((host, port))   # loopback: completes into the accept queue at once
        a, _ = lst.accept()
        held.append(c)
        held.append(a)
    print(f"held {len(held) // 2}", flush=True)
    time.sleep(max(0.0, deadline - time.time()))


if __name__ == "__main__":
    main()
