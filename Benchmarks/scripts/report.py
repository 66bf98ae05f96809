#!/usr/bin/env python3
"""Turns the generator's JSON records (raw/<server>/<scenario>.json) into latest.json,
<date>.md and chart.png.   report.py RAW_DIR RESULTS_DIR quick|full"""
import datetime
import glob
import json
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

raw, out, kind = sys.argv[1], sys.argv[2], sys.argv[3]
servers = ["chatify", "asgi", "flask", "raw-nio"]
names = {"chatify": "chatify (Swift)", "asgi": "python-socketio/uvicorn", "flask": "Flask-SocketIO/eventlet",
         "raw-nio": "raw-nio (ceiling)"}
stepped = ("fanout", "bigroom", "fanout-polling")
# The offered rate at which every server's CPU per delivery is compared.
common_rate = 1600
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
            at_common = next((st for st in r.get("steps") or [] if st.get("offered_msgs_per_s") == common_rate), {})
            # A step past the server's last good one was offered, but not kept up with.
            row.update(
                fanout=r.get("fanout"), last_good_rate=g.get("offered_msgs_per_s"), delivered_per_s=g.get("delivered_per_s"),
                p50_ms=g.get("p50_ms"), p99_ms=g.get("p99_ms"), cpu_s=g.get("server_cpu_s"),
                cpu_us_per_delivery=g.get("server_cpu_us_per_delivery"),
                cpu_us_per_delivery_at_common=at_common.get("server_cpu_us_per_delivery"),
                common_step_failed=bool(at_common) and (g.get("offered_msgs_per_s") or 0) < common_rate,
            )
        elif sc == "connect":
            row.update(clients=r.get("clients"), joined=r.get("joined"), connects_per_s=r.get("connects_per_s"),
                       p50_ms=r.get("p50_ms"), p99_ms=r.get("p99_ms"), cpu_s=r.get("server_cpu_s"),
                       cpu_us_per_connect=r.get("server_cpu_us_per_connect"))
        elif sc == "idle":
            row.update(clients=r.get("clients"), joined=r.get("joined"), rss_per_conn_kb=r.get("rss_per_conn_kb"),
                       idle_server_cpu_pct=r.get("idle_server_cpu_pct"), rss_before_kb=r.get("server_rss_before_kb"),
                       heartbeat_pings=r.get("heartbeat_pings"), heartbeat_min_pings=r.get("heartbeat_min_pings"),
                       heartbeat_late=r.get("heartbeat_late_clients"), heartbeat_closed=r.get("heartbeat_closed_clients"),
                       heartbeat_longest_gap_s=r.get("heartbeat_longest_gap_s"))
            row["scenario"] = f"idle-{r.get('clients')}"
        flat.append(row)



def median_of_runs(rows):
    """One row per (server, scenario). A repeated scenario (the fan-out runs twice: a
    step's length moves its result by a step between runs) is represented by one whole
    run, the median by last good rate (of two, the lower: `median_low`), so every
    figure of the row comes from the same steps. Failed runs count only when all failed."""
    merged, order = {}, []
    for row in rows:
        key = (row["server"], row["scenario"])
        if key not in merged:
            order.append(key)
        merged.setdefault(key, []).append(row)
    result = []
    for key in order:
        runs = merged[key]
        if len(runs) == 1:
            result.append(runs[0]); continue
        good = [r for r in runs if r.get("last_good_rate") is not None]
        if not good:
            result.append(runs[0]); continue
        rate = statistics.median_low([r["last_good_rate"] for r in good])
        row = dict(next(r for r in good if r["last_good_rate"] == rate))
        row["runs"] = [r.get("last_good_rate") for r in runs]
        row["error"] = "; ".join(sorted({r["error"] for r in runs if r.get("error")})) or None
        result.append(row)
    return result


flat = median_of_runs(flat)
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
    if row.get("runs"):
        note += " median of " + " and ".join(f(v, 0) for v in row["runs"])
    if row.get("cpu_us_per_delivery_at_common") is not None:
        note += f"; {f(row['cpu_us_per_delivery_at_common'], 1)} µs/delivery at {common_rate:,} msgs/s"
        if row.get("common_step_failed"):
            note += " (a step it did not keep up with)"
    if row.get("heartbeat_pings") is not None:
        note += (f" heartbeats: {row['heartbeat_late']} late, {row['heartbeat_closed']} closed, "
                 f"at least {row['heartbeat_min_pings']} pings each, longest wait {f(row['heartbeat_longest_gap_s'], 1)} s")
    lines.append(f"| {names[row['server']]} | {row['scenario']} | {f(row.get('last_good_rate'), 0)} | {f(row.get('delivered_per_s'), 0)} | "
                 f"{f(row.get('p50_ms'), 2)} | {f(row.get('p99_ms'), 2)} | {f(row.get('connects_per_s'), 0)} | "
                 f"{f(row.get('rss_per_conn_kb'), 1)} | {f(cpu, 1)} | {note.strip()} |")


def pick(server, scenario, field):
    for row in flat:
        if row["server"] == server and row["scenario"] == scenario:
            return row.get(field)
    return None


def ratio(a, b):
    return a / b if a is not None and b else None


def verdict(value, ok):
    return "–" if value is None else ("meets" if ok(value) else "misses")


idle_rss = pick("chatify", "idle-15000", "rss_per_conn_kb")
idle_base = pick("chatify", "idle-15000", "rss_before_kb")
held = [row for row in flat if row["server"] == "chatify" and row["scenario"] == "idle-19000"]
held_ok = None
if held:
    h = held[0]
    # Held past two ping intervals: every client got at least two pings.
    held_ok = (h.get("joined") == 19000 and h.get("heartbeat_late") == 0 and h.get("heartbeat_closed") == 0
               and (h.get("heartbeat_min_pings") or 0) >= 2)
targets = [
    ("fan-out last good rate vs the ceiling", ratio(pick("chatify", "fanout", "last_good_rate"), pick("raw-nio", "fanout", "last_good_rate")), "≥ 0.6×", lambda v: v >= 0.6),
    ("fan-out last good rate vs python-socketio", ratio(pick("chatify", "fanout", "last_good_rate"), pick("asgi", "fanout", "last_good_rate")), "≥ 8×", lambda v: v >= 8),
    (f"CPU per delivery at {common_rate:,} msgs/s vs the ceiling", ratio(pick("chatify", "fanout", "cpu_us_per_delivery_at_common"), pick("raw-nio", "fanout", "cpu_us_per_delivery_at_common")), "≤ 1.5×", lambda v: v <= 1.5),
    ("RSS per idle WebSocket at 15,000 (KB)", idle_rss, "≤ 8", lambda v: v <= 8),
    ("19,000 held, every heartbeat on time", None if held_ok is None else float(held_ok), "yes", lambda v: v == 1.0),
    ("connects/s vs the ceiling", ratio(pick("chatify", "connect", "connects_per_s"), pick("raw-nio", "connect", "connects_per_s")), "≥ 0.6×", lambda v: v >= 0.6),
    ("server CPU per connect (µs)", pick("chatify", "connect", "cpu_us_per_connect"), "≤ 300", lambda v: v <= 300),
    ("big room last good rate (msgs/s, p99 < 50 ms)", pick("chatify", "bigroom", "last_good_rate"), "≥ 20", lambda v: v >= 20),
    ("polling fan-out last good rate (msgs/s)", pick("chatify", "fanout-polling", "last_good_rate"), "≥ 400", lambda v: v >= 400),
]
lines += ["", "## Chatify against its targets", "", "| target | measured | wanted | verdict |", "| --- | ---: | ---: | --- |"]
for name, value, wanted, ok in targets:
    shown = ("yes" if value == 1.0 else "no") if name.startswith("19,000") and value is not None else f(value, 2)
    lines.append(f"| {name} | {shown} | {wanted} | {verdict(value, ok)} |")
if idle_rss is not None and idle_base is not None:
    lines += ["", f"Projected RSS at 100,000 idle WebSockets: {(idle_base + idle_rss * 100_000) / 1024 / 1024:,.1f} GiB "
                  f"({idle_base / 1024:,.0f} MiB before connecting + {idle_rss:,.1f} KB each)."]
open(os.path.join(out, f"{stamp}.md"), "w").write("\n".join(lines) + "\n")

fig, axes = plt.subplots(1, 4, figsize=(20, 4.5))
panel = {"fanout": axes[0], "bigroom": axes[1], "fanout-polling": axes[2]}
plotted = set()
for r in records:
    if r.get("scenario") in panel and r.get("steps"):
        steps = r["steps"]
        # A repeated run is drawn too, in the same legend entry.
        key = (r["server"], r["scenario"])
        panel[r["scenario"]].plot([s["offered_msgs_per_s"] for s in steps], [max(s["p99_ms"], 0.01) for s in steps],
                                  marker="o", label=None if key in plotted else names[r["server"]])
        plotted.add(key)
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
