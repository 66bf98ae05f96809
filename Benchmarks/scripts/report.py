#!/usr/bin/env python3
"""Turns the generator's JSON records (raw/<server>/<scenario>.json) into latest.json,
<date>.md and chart.png.   report.py RAW_DIR RESULTS_DIR quick|full"""
import datetime
import glob
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

raw, out, kind = sys.argv[1], sys.argv[2], sys.argv[3]
servers = ["chatify", "asgi", "flask", "raw-nio"]
names = {"chatify": "chatify (Swift)", "asgi": "python-socketio/uvicorn", "flask": "Flask-SocketIO/eventlet",
         "raw-nio": "raw-nio (ceiling)"}
stepped = ("fanout", "bigroom", "fanout-polling")
records, flat = [], []
for server in servers:
    for path in sorted(glob.glob(os.path.join(raw, server, "*.json"))):
        try:
            r = json.load(open(path))
        except (json.JSONDecodeError, OSError):
            continue
        r["server"] = server
        records.append(r)
        row = {"server": server, "scenario": r.get("scenario"), "error": r.get("error")}
        if r.get("scenario") is None:
            continue
        sc = r.get("scenario")
        if sc in stepped:
            g = r.get("last_good")
            if not g and r.get("steps"):
                # No step met the bar: show the first (lowest) step, marked.
                g = dict(r["steps"][0]); row["error"] = "no step met p99<=50 ms (first step shown)"
                g["offered_msgs_per_s"] = None
            g = g or {}
            row.update(
                fanout=r.get("fanout"), last_good_rate=g.get("offered_msgs_per_s"), delivered_per_s=g.get("delivered_per_s"),
                p50_ms=g.get("p50_ms"), p99_ms=g.get("p99_ms"), cpu_s=g.get("server_cpu_s"),
                cpu_us_per_delivery=g.get("server_cpu_us_per_delivery"),
            )
        elif sc == "connect":
            row.update(clients=r.get("clients"), joined=r.get("joined"), connects_per_s=r.get("connects_per_s"),
                       p50_ms=r.get("p50_ms"), p99_ms=r.get("p99_ms"), cpu_s=r.get("server_cpu_s"),
                       cpu_us_per_connect=r.get("server_cpu_us_per_connect"))
        elif sc == "idle":
            row.update(clients=r.get("clients"), joined=r.get("joined"), rss_per_conn_kb=r.get("rss_per_conn_kb"),
                       idle_server_cpu_pct=r.get("idle_server_cpu_pct"))
            row["scenario"] = f"idle-{r.get('clients')}"
        flat.append(row)

os.makedirs(out, exist_ok=True)
stamp = datetime.datetime.utcnow().strftime("%Y-%m-%d")
json.dump({"date": stamp, "kind": kind, "records": flat}, open(os.path.join(out, "latest.json"), "w"), indent=1)


def load(name):
    """The `uptime` line the runner saved, or None (older raw folders have none)."""
    try:
        return open(os.path.join(raw, name)).read().strip()
    except OSError:
        return None


def f(v, d=1):
    if v is None:
        return "–"
    return f"{v:,.{d}f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v)


lines = [f"# Benchmark results {stamp} ({kind} run)", "",
         "Measured on one 2-core machine, generator and server on the same host (loopback).", ""]
if load("load-start.txt"):
    lines += [f"Machine load (`uptime`) at the start: `{load('load-start.txt')}`; at the end: `{load('load-end.txt')}`.", ""]
if load("seconds.txt"):
    lines += [f"Whole run, build included: {int(load('seconds.txt')) / 60:.1f} min.", ""]
lines += [
         "| server | scenario | last good msgs/s | delivered/s | p50 ms | p99 ms | connects/s | RSS/conn KB | server CPU µs/delivery or /connect | note |",
         "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
for row in flat:
    cpu = row.get("cpu_us_per_delivery") or row.get("cpu_us_per_connect")
    note = row.get("error") or ""
    if row.get("joined") is not None and row.get("clients") and row["joined"] < row["clients"]:
        note += f" joined {row['joined']}/{row['clients']}"
    if row.get("fanout"):
        note += f" fan-out {row['fanout']}"
    lines.append(f"| {names[row['server']]} | {row['scenario']} | {f(row.get('last_good_rate'), 0)} | {f(row.get('delivered_per_s'), 0)} | "
                 f"{f(row.get('p50_ms'), 2)} | {f(row.get('p99_ms'), 2)} | {f(row.get('connects_per_s'), 0)} | "
                 f"{f(row.get('rss_per_conn_kb'), 1)} | {f(cpu, 1)} | {note.strip()} |")
open(os.path.join(out, f"{stamp}.md"), "w").write("\n".join(lines) + "\n")

fig, axes = plt.subplots(1, 4, figsize=(20, 4.5))
panel = {"fanout": axes[0], "bigroom": axes[1], "fanout-polling": axes[2]}
for r in records:
    if r.get("scenario") in panel and r.get("steps"):
        steps = r["steps"]
        panel[r["scenario"]].plot([s["offered_msgs_per_s"] for s in steps], [max(s["p99_ms"], 0.01) for s in steps],
                                  marker="o", label=names[r["server"]])
for ax, title in ((axes[0], "room fan-out: p99 vs offered rate"), (axes[1], "one big room: p99 vs offered rate"),
                  (axes[2], "room fan-out, long-polling only")):
    ax.set_xscale("log"); ax.set_yscale("log"); ax.axhline(50, color="grey", ls="--", lw=0.8)
    ax.set_xlabel("offered messages/s"); ax.set_ylabel("p99 latency (ms)"); ax.set_title(title); ax.legend(fontsize=8)
labels, values = [], []
for row in flat:
    if row["scenario"].startswith("idle") and row.get("rss_per_conn_kb") is not None:
        labels.append(f"{row['server']}\n{row['scenario'][5:]}"); values.append(row["rss_per_conn_kb"])
axes[3].bar(labels, values, color="tab:blue"); axes[3].set_ylabel("KB RSS per idle WebSocket connection")
axes[3].set_title("memory per idle connection"); axes[3].tick_params(axis="x", labelsize=7)
fig.tight_layout()
fig.savefig(os.path.join(out, "chart.png"), dpi=90)
print("\n".join(lines))
