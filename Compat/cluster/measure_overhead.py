#!/usr/bin/env python3
"""Measures what the Redis adapter costs: room fan-out on 1 node without REDIS_URL
against 2 and 3 nodes sharing the room through Redis, with the same clients (members
spread evenly over the nodes, connected to the nodes directly, WebSocket).

    .venv-compat/bin/python Compat/cluster/measure_overhead.py [--members 60] [--messages 300] [--rate 20]

Each configuration gets a fresh cluster (scripts/cluster.sh; CHATIFY_BIN picks the
binary, default .build/debug/chatify). One member posts --messages messages at --rate
per second; every member (the sender too) receives each one. Reported: the chatify
processes' CPU time (utime+stime from /proc, all nodes together) per delivered message,
redis-server's CPU, and the latency from emit to receipt (client clock, one machine)
as median / 95th percentile / max. Not a test: numbers depend on the machine."""

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cluster_support as cs  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
warnings.filterwarnings("ignore", message="The HMAC key")  # the short test JWT secret


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


class TimedClient(cs.ChatClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.latencies = []

    def _on_message(self, payload):
        text = payload.get("message", "")
        if text.startswith("t="):
            self.latencies.append(time.time() - float(text[2:].split()[0]))
        with self.cond:
            self.messages.append(payload)
            self.cond.notify_all()


def run(nodes, redis, members, messages, rate):
    directory = Path(tempfile.mkdtemp(prefix=f"chatify-measure-{nodes}-"))
    cluster = cs.Cluster(directory, nodes=nodes, env={"CLUSTER_REDIS": "1" if redis else "0", "CLUSTER_LOG_LEVEL": "warning"})
    cluster.start()
    clients = []
    try:
        seeder = cs.Seeder(cluster)
        users = seeder.users(members, prefix="m")
        key = seeder.room(users[0], users)
        clients = [TimedClient(u, key, cluster.node_url(i % nodes + 1), "ws-only") for i, u in enumerate(users)]
        cs.connect_all(clients, parallel=16)
        for client in clients:
            client.wait_joined(timeout=30)
        # A first message reaches everyone before measuring (the join notices are before it).
        clients[0].send("warm-up")
        for client in clients:
            client.wait_text("warm-up", timeout=30)
        for client in clients:
            with client.cond:
                client.messages.clear()
        pids = [cluster.node_pid(k) for k in range(1, nodes + 1)]
        redis_pid = int(cluster.state["REDIS_PID"])
        before = [cpu_seconds(p) for p in pids]
        redis_before = cpu_seconds(redis_pid)
        sender = clients[0]
        started = time.monotonic()
        for n in range(messages):
            target = started + n / rate
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing the load, not synchronisation
            sender.send(f"t={time.time():.6f} #{n}")
        cs.wait_until(lambda: all(len(c.latencies) >= messages for c in clients), 60, "every delivery", interval=0.05)
        elapsed = time.monotonic() - started
        cpu = sum(cpu_seconds(p) for p in pids) - sum(before)
        redis_cpu = cpu_seconds(redis_pid) - redis_before
        deliveries = messages * members
        latencies = sorted(x for c in clients for x in c.latencies)
        return {
            "config": f"{nodes} node{'s' if nodes > 1 else ''}" + (" + Redis" if redis else ", no REDIS_URL"),
            "deliveries": deliveries,
            "elapsed": elapsed,
            "cpu_us": cpu / deliveries * 1e6,
            "redis_us": redis_cpu / deliveries * 1e6,
            "p50": statistics.median(latencies) * 1e3,
            "p95": latencies[int(len(latencies) * 0.95)] * 1e3,
            "max": latencies[-1] * 1e3,
        }
    finally:
        for client in clients:
            client.close()
        cluster.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=60)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--rate", type=float, default=20.0)
    args = parser.parse_args()
    results = [run(1, False, args.members, args.messages, args.rate)]
    for nodes in (2, 3):
        results.append(run(nodes, True, args.members, args.messages, args.rate))
    print(f"\n{args.members} members in one room, {args.messages} messages at {args.rate:g}/s, "
          f"binary {os.environ.get('CHATIFY_BIN', '.build/debug/chatify')}")
    print("| configuration | deliveries | chatify CPU / delivery | redis CPU / delivery | latency p50 | p95 | max |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['config']} | {r['deliveries']} | {r['cpu_us']:.1f} µs | {r['redis_us']:.1f} µs | "
              f"{r['p50']:.1f} ms | {r['p95']:.1f} ms | {r['max']:.1f} ms |")


if __name__ == "__main__":
    main()
