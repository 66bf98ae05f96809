#!/usr/bin/env bash
# Builds release, runs every scenario against every server, writes results/<date>.md,
# results/latest.json and results/chart.png.  Benchmarks/run.sh [--quick]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
quick=0; [[ "${1:-}" == "--quick" ]] && quick=1
cd "$here"
began=$(date +%s)
raw="$here/results/raw"; rm -rf "$raw"; mkdir -p "$raw"
ulimit -n "$(ulimit -Hn)" || true

echo "== building (release)" >&2
swift build -c release --package-path "$root" --product chatify --scratch-path "$root/.build-release" >&2
swift build -c release --package-path "$here" --scratch-path "$here/.build-bench" >&2
chatify="$root/.build-release/release/chatify"
lg="$here/.build-bench/release/LoadGenerator"
rawserver="$here/.build-bench/release/RawFanoutServer"
for v in asgi flask report; do
  [[ -x .venv-$v/bin/python ]] || { python3 -m venv .venv-$v && .venv-$v/bin/pip install -q -r peers/requirements-$v.txt; }
done

secret="bench-$(date +%s)"
if (( quick )); then
  # Rates four times apart, so each server's stepping ends within a few steps.
  CONNECT=(--clients 1000 --rooms 50); IDLE=(2000); IDLE_TIMES=(--settle 1 --hold 2)
  FAN=(--rooms 10 --members 20 --rates 100,400,1600,6400 --step 1.5 --drain 0.5)
  BIG=(--members 300 --rates 5,20,80 --step 1.5 --drain 0.5)
  # Long-polling costs two TCP connections and a request per delivery batch per client.
  POLL=(--rooms 10 --members 20 --rates 25,100,400 --step 1.5 --drain 0.5)
else
  # 15,000 idle connections: the nofile hard limit here is 20,000 per process.
  # Idle connections are held past two ping intervals (25 s), so late heartbeats show.
  CONNECT=(--clients 5000 --rooms 250); IDLE=(5000 15000); IDLE_TIMES=(--settle 3 --hold 55); FAN=(--rooms 10 --members 20 --rates 50,100,200,400,800,1600,3200,6400 --step 3 --drain 1)
  BIG=(--members 1000 --rates 2,5,10,20,40,80,160 --step 3 --drain 1)
  POLL=(--rooms 10 --members 20 --rates 25,50,100,200,400,800,1600,3200 --step 3 --drain 1)
fi
# The machine's load is part of every result: the runs are not niced, but others may be.
uptime >"$raw/load-start.txt"

wait_port() { for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.2; done; return 1; }

# Waits (at most 60 s) until the server uses under 5 % of a core over half a second, so
# one scenario's teardown (thousands of disconnects) is not billed to the next one.
wait_quiet() { # pid
  local hz before after
  hz=$(getconf CLK_TCK)
  for _ in $(seq 120); do
    before=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null) || return 0
    sleep 0.5
    after=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null) || return 0
    (( (after - before) * 100 < hz * 5 / 2 )) && return 0
  done
  # Still busy (python-socketio takes minutes over 15,000 disconnects): go on, say so.
  echo "   (server still busy after 60 s; going on)" >&2
  return 0
}

# A server left running would hold its port and skew the next run.
server_pid=
trap '[[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null' EXIT

# Starts the server and sets pid and common (the generator's arguments for it). Chatify
# keeps its users in memory, so a restart registers the benchmark user and rooms again.
start_server() { # name port
  local name=$1 port=$2 work="$raw/$1"
  mkdir -p "$work"
  case $name in
    # The abuse limits are lifted (the peers have none): the benchmark measures the
    # protocol and chat paths, not the rate limiter.
    chatify) PORT=$port MONGODB_LOCAL_URI= JWT_SECRET_KEY=$secret JWT_ACCESS_TOKEN_EXPIRES=86400 FLASK_DEBUG=False LOG_LEVEL=error \
               MAX_CONNECTIONS_PER_IP=0 MAX_TCP_CONNECTIONS_PER_IP=0 MAX_CONNECTIONS_PER_USER=0 SOCKET_EVENTS_PER_SECOND=1000000 \
               USER_EVENTS_PER_SECOND=1000000 REGISTRATIONS_PER_HOUR=1000000 MAX_ROOMS_PER_SOCKET=1000000 \
               "$chatify" >>"$work/server.log" 2>&1 & pid=$! ;;
    asgi)    (cd peers && JWT_SECRET_KEY=$secret PORT=$port exec ../.venv-asgi/bin/python asgi_peer.py) >>"$work/server.log" 2>&1 & pid=$! ;;
    flask)   (cd peers && JWT_SECRET_KEY=$secret PORT=$port exec ../.venv-flask/bin/python flask_peer.py) >>"$work/server.log" 2>&1 & pid=$! ;;
    raw-nio) "$rawserver" --port "$port" >>"$work/server.log" 2>&1 & pid=$! ;;
  esac
  server_pid=$pid
  wait_port "$port"
  local mode=(--mode sio)
  if [[ $name == chatify ]]; then
    python3 scripts/setup_rooms.py "http://127.0.0.1:$port" 2000 "$work"
  elif [[ $name == raw-nio ]]; then
    # The ceiling has no auth and no Socket.IO: plain WebSocket text frames.
    mode=(--mode raw); : >"$work/cookie.txt"
    seq -f "room%g" 0 1999 >"$work/rooms.txt"
  else
    .venv-asgi/bin/python -c "import jwt,time; print(jwt.encode({'sub':'bench','type':'access','exp':int(time.time())+86400}, '$secret', algorithm='HS256'), end='')" >"$work/cookie.txt"
    seq -f "room%g" 0 1999 >"$work/rooms.txt"
  fi
  # A join that takes 10 s has failed; after 200 failures the generator stops trying, so a
  # server that stops accepting (Flask-SocketIO at 1,024) does not burn the time budget.
  common=(--targets "127.0.0.1:$port" --cookie "$(cat "$work/cookie.txt")" --rooms-file "$work/rooms.txt" --server-pid "$pid" --server "$name"
          --join-timeout 10 --max-failures 200 "${mode[@]}")
}

stop_server() {
  kill "$pid"; wait "$pid" 2>/dev/null || true
  server_pid=
}

run_server() { # name port
  local name=$1 port=$2 pid common work="$raw/$1"
  # Each idle size on a fresh server: after a larger crowd or the connect storm its RSS
  # already holds their high-water mark, and the growth per connection would read low.
  local idle=("${IDLE[@]}")
  # 19,000 of this machine's 20,000 descriptors: only the servers that hold 15,000.
  (( ! quick )) && [[ $name == chatify || $name == raw-nio ]] && idle+=(19000)
  for n in "${idle[@]}"; do
    start_server "$name" "$port"
    wait_quiet "$pid"
    echo "== $name: idle $n" >&2
    timeout 240 "$lg" --scenario idle --clients "$n" --members 10 --sources 127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4 "${IDLE_TIMES[@]}" "${common[@]}" >"$work/idle-$n.json" \
      || echo "{\"server\":\"$name\",\"scenario\":\"idle\",\"clients\":$n,\"error\":\"failed\"}" >"$work/idle-$n.json"
    # python-socketio needs minutes to tear down 15,000 connections, and would serve
    # the next scenario while doing it.
    stop_server
  done
  start_server "$name" "$port"
  echo "== $name: connect storm" >&2
  timeout 180 "$lg" --scenario connect "${common[@]}" "${CONNECT[@]}" >"$work/connect.json" || echo "{\"server\":\"$name\",\"scenario\":\"connect\",\"error\":\"failed\"}" >"$work/connect.json"
  wait_quiet "$pid"
  # Twice: the report keeps the median run (a step's length moves the result by a step).
  for run in 1 2; do
    echo "== $name: fan-out ($run of 2)" >&2
    timeout 300 "$lg" --scenario fanout "${common[@]}" "${FAN[@]}" >"$work/fanout-$run.json" \
      || echo "{\"server\":\"$name\",\"scenario\":\"fanout\",\"error\":\"failed\"}" >"$work/fanout-$run.json"
    wait_quiet "$pid"
  done
  echo "== $name: big room" >&2
  timeout 300 "$lg" --scenario bigroom "${common[@]}" "${BIG[@]}" >"$work/bigroom.json" || echo "{\"server\":\"$name\",\"scenario\":\"bigroom\",\"error\":\"failed\"}" >"$work/bigroom.json"
  if [[ $name != raw-nio ]]; then  # the ceiling speaks WebSocket only
    wait_quiet "$pid"
    echo "== $name: fan-out over long-polling" >&2
    timeout 300 "$lg" --scenario fanout --transport polling "${common[@]}" "${POLL[@]}" >"$work/fanout-polling.json" \
      || echo "{\"server\":\"$name\",\"scenario\":\"fanout-polling\",\"error\":\"failed\"}" >"$work/fanout-polling.json"
  fi
  stop_server
}

run_server chatify 5301
run_server asgi 5302
run_server flask 5303
run_server raw-nio 5304
uptime >"$raw/load-end.txt"
echo $(( $(date +%s) - began )) >"$raw/seconds.txt"
.venv-report/bin/python scripts/report.py "$raw" "$here/results" $([[ $quick == 1 ]] && echo quick || echo full)
