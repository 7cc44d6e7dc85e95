#!/usr/bin/env python3
"""Rewrite a ZooKeeper log in ZooKeeper's own layout (gen.py's) into another layout, line for line.

Usage: relayout.py IN OUT LAYOUT      LAYOUT: kafka | strimzi | cloudera | logback | compose | kubectl | json

The messages, their order and their stack traces stay as they are; only what stands around a message changes,
as each layout's pattern writes it (see docs/zklog.md and tests/ConnDoctor.Tests/fixtures/zklog/README.md):
  kafka     [%d] %p %m (%c)                          Kafka/Confluent's log4j.properties
  strimzi   %d %p %m (%c) [%t]                       Strimzi's ZooKeeper log4j pattern
  cloudera  %d %p %c: %m                             Cloudera Manager
  logback   %d{HH:mm:ss.SSS} [%thread] %-5level %logger{36} - %msg   logback's console default (time only)
  compose   "zookeeper-1  | " + ZooKeeper's own       docker compose logs
  kubectl   RFC 3339 nano stamp + " " + ZooKeeper's own   kubectl logs --timestamps
  json      {"timestamp":...,"level":...,"thread":...,"logger":...,"message":...}  logback-contrib JsonLayout
A stack-trace line keeps its text (with a prefix for compose and kubectl); in json it joins its message's object.
"""
import json
import sys

PKG = "org.apache.zookeeper.server."


def split(line):
    """(timestamp, level, thread, class, message) of a line in ZooKeeper's own layout, or None."""
    if len(line) < 24 or line[4] != "-" or line[13] != ":":
        return None
    rest = line[24:]
    if rest.startswith("[myid:"):
        rest = rest[rest.index("]") + 2:]
    if rest.startswith("- "):
        rest = rest[2:]
    level, _, rest = rest.partition(" ")
    rest = rest.lstrip(" ")
    loc, _, msg = rest.partition("] - ")
    thread, _, cls = loc[1:].rpartition(":")
    return line[:23], level, thread, cls.split("@")[0], msg


def main():
    src, dst, layout = sys.argv[1], sys.argv[2], sys.argv[3]
    out = open(dst, "w", buffering=16 << 20)
    pending = None                          # json: the message whose stack trace is being gathered
    with open(src, buffering=16 << 20) as f:
        for raw in f:
            line = raw.rstrip("\n")
            p = split(line)
            if layout == "json":
                if p is None:
                    if pending is not None:
                        pending["stack_trace"] = pending.get("stack_trace", "") + line + "\n"
                    continue
                if pending is not None:
                    out.write(json.dumps(pending, separators=(",", ":")) + "\n")
                ts, level, thread, cls, msg = p
                pending = {"timestamp": ts.replace(" ", "T").replace(",", "."), "level": level, "thread": thread,
                           "logger": PKG + cls, "message": msg, "context": "default"}
                continue
            if p is None:
                if layout == "compose":
                    out.write("zookeeper-1  | " + line + "\n")
                elif layout == "kubectl":
                    out.write("2016-09-19T00:00:00.000000000Z " + line + "\n")
                else:
                    out.write(line + "\n")
                continue
            ts, level, thread, cls, msg = p
            if layout == "kafka":
                out.write(f"[{ts}] {level} {msg} ({PKG}{cls})\n")
            elif layout == "strimzi":
                out.write(f"{ts} {level} {msg} ({PKG}{cls}) [{thread}]\n")
            elif layout == "cloudera":
                out.write(f"{ts} {level} {PKG}{cls}: {msg}\n")
            elif layout == "logback":
                out.write(f"{ts[11:19]}.{ts[20:23]} [{thread}] {level:<5} o.a.z.server.{cls} - {msg}\n")
            elif layout == "compose":
                out.write("zookeeper-1  | " + line + "\n")
            elif layout == "kubectl":
                out.write(f"{ts[:10]}T{ts[11:19]}.{ts[20:23]}000000Z {line}\n")
            else:
                sys.exit(f"unknown layout {layout}")
    if pending is not None:
        out.write(json.dumps(pending, separators=(",", ":")) + "\n")
    out.close()


if __name__ == "__main__":
    main()
