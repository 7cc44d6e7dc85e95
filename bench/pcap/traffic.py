#!/usr/bin/env python3
"""Traffic for the pcap benchmark, inside the namespace run.sh creates: servers on 127.0.0.1 and a few client
workers that make many short request/response connections, refused attempts, reads that stop early
(unread-data resets), connections the server rejects at once, and a few bulk transfers. Bounded by --conns."""
import argparse, os, socket, sys, threading, time

def serve(port, behaviour):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(4096)

    def handle(c):
        try:
            if behaviour == "echo":
                data = c.recv(4096)
                if data:
                    c.sendall(b"HTTP/1.1 200 OK\r\n\r\n" + data)
            elif behaviour == "bulk":
                c.sendall(b"b" * (1 << 20))
        except OSError:
            pass
        c.close()

    while True:
        c, _ = ls.accept()
        if behaviour == "reject":
            c.close()
        elif behaviour == "echo":
            handle(c)  # small and quick: no thread needed
        else:
            threading.Thread(target=handle, args=(c,), daemon=True).start()

def client(n, seed):
    for i in range(n):
        kind = (i + seed) % 100
        try:
            if kind < 3:  # refused: nothing listens on 9999
                try:
                    socket.create_connection(("127.0.0.1", 9999)).close()
                except ConnectionRefusedError:
                    pass
            elif kind < 6:  # the server accepts and closes at once
                c = socket.create_connection(("127.0.0.1", 2181))
                c.recv(16)
                c.close()
            elif kind < 8:  # read the first bytes of a large answer and close: RST
                c = socket.create_connection(("127.0.0.1", 8081))
                c.recv(100)
                c.close()
            else:  # a normal short request/response, client closes after the answer
                c = socket.create_connection(("127.0.0.1", 8080))
                c.sendall(b"GET /%d HTTP/1.1\r\n\r\n" % i)
                while c.recv(4096):
                    pass
                c.close()
        except OSError:
            pass

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--conns", type=int, default=150000)
    p.add_argument("--workers", type=int, default=4)
    a = p.parse_args()
    for port, b in ((8080, "echo"), (8081, "bulk"), (2181, "reject")):
        threading.Thread(target=serve, args=(port, b), daemon=True).start()
    time.sleep(0.3)
    # Bulk transfers read to the end: long connections with big windows beside the short ones.
    for _ in range(20):
        c = socket.create_connection(("127.0.0.1", 8081))
        while c.recv(1 << 16):
            pass
        c.close()
    pids = []
    for w in range(a.workers):
        pid = os.fork()
        if pid == 0:
            client(a.conns // a.workers, w * 37)
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)

if __name__ == "__main__":
    main()
