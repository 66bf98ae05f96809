#!/usr/bin/env bash
# The fanout scenario of the load generator against 1 node without Redis, then 1, 2 and
# 3 nodes sharing Redis (scripts/cluster.sh, release build, SecantusDB as the shared
# store): what the Redis adapter costs per delivered message. Clients connect to the
# nodes directly, spread evenly (a WebSocket needs no stickiness, so nginx is not in
# the path). Writes a markdown table to stdout and the raw records to
# Benchmarks/results/cluster/.
#
#   Benchmarks/scripts/cluster_fanout.sh [rates]     (default 100,200,400; 5 s per step)
#
# CLUSTER_BENCH_CONFIGS picks the configurations, comma-separated "nodes redis [adapter]":
# redis 0 or 1, adapter pubsub (default), sharded, sharded3 (sharded Pub/Sub on a
# three-primary Redis Cluster) or streams. Default: "1 0,1 1,2 1,3 1".
#
# Needs the release builds of chatify (.build-release) and of the generator
# (Benchmarks/.build-bench); Benchmarks/run.sh makes both.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$here/.." && pwd)"
rates=${1:-100,200,400}
lg="$here/.build-bench/release/LoadGenerator"
chatify="$root/.build-release/release/chatify"
for binary in "$lg" "$chatify"; do
  [[ -x $binary ]] || { echo "cluster_fanout: $binary missing (run Benchmarks/run.sh or build it in release)" >&2; exit 2; }
done
out="$here/results/cluster"; mkdir -p "$out"
ulimit -n "$(ulimit -Hn)" || true

export CHATIFY_BIN="$chatify" CLUSTER_DIR="$root/.cluster/bench" LOG_LEVEL=error
export JWT_SECRET_KEY="bench-$(date +%s)" JWT_ACCESS_TOKEN_EXPIRES=86400
export MAX_CONNECTIONS_PER_IP=0 MAX_TCP_CONNECTIONS_PER_IP=0 MAX_CONNECTIONS_PER_USER=0 SOCKET_EVENTS_PER_SECOND=1000000 \
  USER_EVENTS_PER_SECOND=1000000 REGISTRATIONS_PER_HOUR=1000000 MAX_ROOMS_PER_SOCKET=1000000
trap '"$root/scripts/cluster.sh" stop >/dev/null 2>&1 || true' EXIT

cpu_seconds() { # pid: utime + stime in seconds
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"
}

redis_cpu_seconds() { # every redis-server of the running cluster
  local pid total=0 all=${REDIS_CLUSTER_PIDS:-$REDIS_PID}
  for pid in ${all//,/ }; do total=$(awk -v a="$total" -v b="$(cpu_seconds "$pid")" 'BEGIN { print a + b }'); done
  echo "$total"
}

names=()
IFS=, read -r -a configs <<<"${CLUSTER_BENCH_CONFIGS:-1 0,1 1,2 1,3 1}"
for config in "${configs[@]}"; do
  read -r nodes redis adapter <<<"$config"
  adapter=${adapter:-pubsub}
  [[ $adapter =~ ^(pubsub|sharded|sharded3|streams)$ ]] || { echo "cluster_fanout: unknown adapter $adapter" >&2; exit 2; }
  name="${nodes}node$([[ $redis == 1 ]] && echo -redis || true)$([[ $adapter != pubsub ]] && echo "-$adapter" || true)"
  names+=("$name")
  shards=1; [[ $adapter == sharded3 ]] && shards=3
  REDIS_ADAPTER=${adapter%3} CLUSTER_REDIS_SHARDS=$shards \
    CLUSTER_NODES=$nodes CLUSTER_REDIS=$redis "$root/scripts/cluster.sh" start >&2
  # shellcheck disable=SC1091
  source "$CLUSTER_DIR/state"
  targets=() pids=()
  for ((k = 1; k <= nodes; k++)); do
    port_var="NODE${k}_PORT" pid_var="NODE${k}_PID"
    targets+=("127.0.0.1:${!port_var}"); pids+=("${!pid_var}")
  done
  mkdir -p "$out/$name"
  python3 "$here/scripts/setup_rooms.py" "http://${targets[0]}" 10 "$out/$name" >&2
  redis0=0; [[ $redis == 1 ]] && redis0=$(redis_cpu_seconds)
  "$lg" --scenario fanout --server "$name" --targets "$(IFS=,; echo "${targets[*]}")" \
    --cookie "$(cat "$out/$name/cookie.txt")" --rooms-file "$out/$name/rooms.txt" \
    --rooms 10 --members 20 --rates "$rates" --step 5 --drain 2 --p99-limit-ms 1000000 \
    --server-pid "$(IFS=,; echo "${pids[*]}")" >"$out/$name.json"
  redis_cpu=0; [[ $redis == 1 ]] && redis_cpu=$(awk -v a="$redis0" -v b="$(redis_cpu_seconds)" 'BEGIN { print b - a }')
  echo "{\"config\":\"$name\",\"redis_cpu_s\":$redis_cpu}" >"$out/$name.redis.json"
  "$root/scripts/cluster.sh" stop >&2
done

python3 - "$out" "${names[@]}" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
print("| configuration | offered msgs/s | delivered/s | p50 / p99 ms | chatify CPU µs/delivery (all nodes) | redis CPU µs/delivery (whole run) |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for name in sys.argv[2:]:
    record = json.loads((out / f"{name}.json").read_text())
    redis = json.loads((out / f"{name}.redis.json").read_text())["redis_cpu_s"]
    steps = record.get("steps", [])
    delivered = sum(s["delivered"] for s in steps)
    redis_us = f"{redis * 1e6 / delivered:.1f}" if redis and delivered else "–"
    for s in steps:
        print(f"| {name} | {s['offered_msgs_per_s']:g} | {s['delivered_per_s']:,.0f} | {s['p50_ms']:.2f} / {s['p99_ms']:.2f} "
              f"| {s['server_cpu_us_per_delivery']:.1f} | {redis_us} |")
PY
