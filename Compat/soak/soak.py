"""A soak of the chatify release build: many stock python-socketio clients connect, join,
chat, leave and disconnect, over and over, for a set time. Reports errors, lost messages,
server RSS over time and open file descriptors before and after.

    scripts/soak [--clients 2000] [--minutes 10]

Pass/fail (exit status): no client error or refusal, every message a client sends comes
back to it through the room broadcast, RSS after warm-up within 10 % of its level at the
end of warm-up, and no leaked sessions or file descriptors once all clients are gone.
"""

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
import socketio

ROOT = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"^chatify listening on 127\.0\.0\.1:(\d+)")


def rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def metric(text, name, labels=""):
    wanted = name + (f"{{{labels}}}" if labels else "")
    for line in text.splitlines():
        key, _, value = line.rpartition(" ")
        if key == wanted:
            return float(value)
    return 0.0


def closed_by_reason(text):
    """chatify_sessions_closed_total by reason: many ping_timeout closes while clients
    still think they are connected mean the generator (one Python process) fell behind."""
    found = re.findall(r'^chatify_sessions_closed_total\{reason="([a-z_]+)"\} (\S+)$', text, re.MULTILINE)
    return {reason: float(count) for reason, count in found}


def start_server(binary):
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env.update(
        HOST="127.0.0.1", PORT="0", MONGODB_LOCAL_URI="", FLASK_DEBUG="False", LOG_LEVEL="warning",
        JWT_ACCESS_TOKEN_EXPIRES="86400", MAX_CONNECTIONS_PER_IP="0", MAX_TCP_CONNECTIONS_PER_IP="0", MAX_CONNECTIONS_PER_USER="0",
        REGISTRATIONS_PER_HOUR="100000",
    )
    workdir = tempfile.mkdtemp(prefix="chatify-soak-")
    process = subprocess.Popen([str(Path(binary).resolve())], cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in process.stdout:
        found = LISTENING.match(line)
        if found:
            # Keep reading its output, or a full pipe would stall the server.
            threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
            return process, f"http://127.0.0.1:{found.group(1)}"
    raise SystemExit(f"chatify did not start: exit {process.wait()}")


def register(base, name):
    response = requests.post(
        base + "/register", data={"username": name, "email": f"{name}@example.com", "password": "soak-pw"},
        allow_redirects=False, timeout=30,
    )
    assert response.status_code == 302, response.text[:200]
    return response.cookies["access_token_cookie"]


def create_room(base, cookie, name):
    """Creates a room and returns its key, found by its name on the /my_rooms pages.

    /my_rooms is paged (20 a page, oldest first): taking the last link of page 1, as this
    did before, gave the 20th room's key for every room after it, so 80 of the 100 "rooms"
    were one room holding most of the clients."""
    jar = {"access_token_cookie": cookie}
    requests.post(base + "/create_room", data={"room_name": name}, cookies=jar, allow_redirects=False, timeout=30)
    link = re.compile(r'href="/chat/([A-Za-z0-9_-]+)">' + re.escape(name) + "</a>")
    for page_number in range(1, 1000):
        page = requests.get(base + "/my_rooms", params={"page": page_number}, cookies=jar, timeout=30).text
        found = link.search(page)
        if found:
            return found.group(1)
        if 'class="room-name"' not in page:
            break
    raise SystemExit(f"room {name!r} not found on /my_rooms")


class Stats:
    def __init__(self):
        self.sessions = 0
        self.sent = 0
        self.errors = []
        self.lost = 0
        self.checked = 0


async def client_loop(slot, base, cookie, rooms, deadline, stats):
    """Connect, join, chat, leave, disconnect, pause; repeat until the deadline."""
    rng = random.Random(slot)
    while time.monotonic() < deadline:
        client = socketio.AsyncClient(reconnection=False)
        room = rng.choice(rooms)
        got = set()
        client.on("message", lambda data: got.add(data.get("message")))
        client.on("chat_error", lambda data: stats.errors.append(f"slot {slot}: chat_error {data}"))
        try:
            await client.connect(base, headers={"Cookie": f"access_token_cookie={cookie}"}, transports=["websocket"],
                                 wait_timeout=30)
            await client.call("join", {"room": room}, timeout=30)
            stats.sessions += 1
            mine = []
            for _ in range(rng.randint(1, 4)):
                await asyncio.sleep(rng.uniform(2.0, 8.0))
                text = f"{slot}-{stats.sent}"
                stats.sent += 1
                mine.append(text)
                await client.call("message", {"room": room, "message": text}, timeout=30)
            # A socket receives its own message (the broadcast includes the sender).
            await asyncio.sleep(0.5)
            stats.checked += len(mine)
            stats.lost += sum(1 for text in mine if text not in got)
            await client.call("leave", {"room": room}, timeout=30)
        except Exception as error:  # noqa: BLE001 - every failure is reported
            stats.errors.append(f"slot {slot}: {type(error).__name__}: {error}")
        finally:
            try:
                await client.disconnect()
            except Exception:  # noqa: BLE001
                pass
        await asyncio.sleep(rng.uniform(1.0, 5.0))


async def sample(pid, base, deadline, series):
    start = time.monotonic()
    while time.monotonic() < deadline:
        metrics = await asyncio.to_thread(lambda: requests.get(base + "/metrics", timeout=10).text)
        series.append({
            "t": round(time.monotonic() - start), "rss_kb": rss_kb(pid), "fds": open_fds(pid),
            "websocket": metric(metrics, "chatify_connections", 'transport="websocket"'),
            # The machine's load: generator and server share its cores with whatever else runs.
            "load_1min": round(os.getloadavg()[0], 2),
        })
        await asyncio.sleep(10)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--rooms-per-user", type=int, default=5)
    parser.add_argument("--binary", default=str(ROOT / ".build-release" / "release" / "chatify"))
    parser.add_argument("--out", default=str(ROOT / "Compat" / "soak" / "results" / "latest.json"))
    args = parser.parse_args()

    process, base = start_server(args.binary)
    try:
        cookies = [register(base, f"soaker{index}") for index in range(args.users)]
        rooms = [create_room(base, cookies[0], f"soak room {index}") for index in range(args.rooms)]
        assert len(set(rooms)) == len(rooms), f"only {len(set(rooms))} distinct rooms of {len(rooms)}"
        # Each user is a member of a few rooms; the room owner (user 0) of all.
        memberships = [rooms] + [
            [rooms[(user * args.rooms_per_user + k) % len(rooms)] for k in range(args.rooms_per_user)]
            for user in range(1, args.users)
        ]
        for cookie, keys in zip(cookies[1:], memberships[1:]):
            for key in keys:
                requests.post(base + "/join_room", data={"room_key": key}, cookies={"access_token_cookie": cookie},
                              allow_redirects=False, timeout=30)
        fds_before, rss_before = open_fds(process.pid), rss_kb(process.pid)
        stats, series = Stats(), []
        deadline = time.monotonic() + args.minutes * 60
        # Clients start over the first 30 s, as a crowd arrives.
        async def staggered(slot):
            await asyncio.sleep(30 * slot / args.clients)
            user = slot % len(cookies)
            await client_loop(slot, base, cookies[user], memberships[user], deadline, stats)

        await asyncio.gather(sample(process.pid, base, deadline, series), *(staggered(s) for s in range(args.clients)))
        # Everyone is gone: sessions and descriptors must come back down.
        settle = time.monotonic() + 60
        while time.monotonic() < settle:
            left = metric(requests.get(base + "/metrics", timeout=10).text, "chatify_connections", 'transport="websocket"')
            if left == 0 and open_fds(process.pid) <= fds_before + 2:
                break
            await asyncio.sleep(1)
        fds_after, rss_after = open_fds(process.pid), rss_kb(process.pid)
        final_metrics = requests.get(base + "/metrics", timeout=10).text
        left = metric(final_metrics, "chatify_connections", 'transport="websocket"')
        closed = closed_by_reason(final_metrics)
    finally:
        process.terminate()
        process.wait(timeout=30)

    warm = [point for point in series if point["t"] >= 120] or series
    rss_warm, rss_end = warm[0]["rss_kb"], warm[-1]["rss_kb"]
    drift = (rss_end - rss_warm) / rss_warm if rss_warm else 0.0
    summary = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "clients": args.clients, "minutes": args.minutes,
        "client_sessions": stats.sessions, "messages": stats.sent, "own_messages_checked": stats.checked,
        "lost": stats.lost, "errors": len(stats.errors), "first_errors": stats.errors[:10],
        "rss_kb": {"before": rss_before, "after_warmup": rss_warm, "end_of_load": rss_end, "after_all_left": rss_after},
        "rss_drift_after_warmup": round(drift, 4), "fds": {"before": fds_before, "after": fds_after},
        "sessions_left": left, "sessions_closed_by_reason": closed, "peak_websockets": max((p["websocket"] for p in series), default=0), "series": series,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=1) + "\n")
    passed = not stats.errors and stats.lost == 0 and abs(drift) <= 0.10 and left == 0 and fds_after <= fds_before + 2
    print(json.dumps({k: v for k, v in summary.items() if k != "series"}, indent=1))
    print("soak:", "PASSED" if passed else "FAILED")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
