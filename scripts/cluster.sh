#!/usr/bin/env bash
# A local Chatify cluster on 127.0.0.1, for trying the Redis adapter and for the cluster
# tests (Compat/cluster): a MongoDB-compatible server (SecantusDB, through
# scripts/mongo-test-server.sh), redis-server, N chatify nodes sharing both, and nginx
# in front as the load balancer (WebSocket proxying, sticky long-polling by cookie).
#
#   scripts/cluster.sh start          starts everything, waits until it answers, prints the URL
#   scripts/cluster.sh stop           stops what `start` started (and only that)
#   scripts/cluster.sh status         what runs, on which port
#   scripts/cluster.sh kill-node N    SIGKILLs node N (fault drills)
#   scripts/cluster.sh restart-node N (re)starts node N on its port and waits for it
#   scripts/cluster.sh stop-redis     stops redis-server under the running nodes
#   scripts/cluster.sh start-redis    starts it again on its port, waits until every node
#                                     has subscribed again
#
# env: CLUSTER_NODES (3)      number of chatify nodes, named node1..nodeN
#      CLUSTER_PORT (free)    nginx's port; every other port is a free one
#      CLUSTER_DIR (<repo>/.cluster) state, configs, logs, data (git-ignored)
#      CHATIFY_BIN (<repo>/.build/debug/chatify)
#      CLUSTER_DATABASE (chatify_cluster) DATABASE_NAME of every node
#      CLUSTER_START_TIMEOUT (90) seconds `start` waits for everything to answer
#      CLUSTER_REDIS (1)      0: nodes get no REDIS_URL (each on its own; for measuring
#                             the adapter's overhead against a single plain node)
#      CLUSTER_REDIS_SHARDS (1) 3..9: a Redis Cluster of that many primaries instead of one
#                             redis-server; the nodes get REDIS_CLUSTER=true and need
#                             REDIS_ADAPTER=sharded (stop-redis/start-redis are single-server only)
#      CLUSTER_OWNER_PID      when that process ends, the cluster is stopped (tests pass
#                             their own PID, so nothing outlives them)
#      MONGO_VENV (<repo>/.mongo-test/venv) where SecantusDB is installed (shared)
#      Passed on to every node when set: SECRET_KEY JWT_SECRET_KEY JWT_TOKEN_LOCATION
#      JWT_ACCESS_COOKIE_PATH JWT_ACCESS_COOKIE_NAME JWT_COOKIE_CSRF_PROTECT
#      JWT_ACCESS_TOKEN_EXPIRES USERS_COLLECTION ROOMS_COLLECTION CORS_ALLOWED_ORIGINS
#      FLASK_DEBUG LOG_LEVEL (info) LOG_FORMAT, and the abuse limits MAX_CONNECTIONS_PER_IP
#      MAX_TCP_CONNECTIONS_PER_IP MAX_CONNECTIONS_PER_USER SOCKET_EVENTS_PER_SECOND USER_EVENTS_PER_SECOND
#      REGISTRATIONS_PER_HOUR MAX_ROOMS_PER_SOCKET (benchmarks lift them), REDIS_ADAPTER
#      REDIS_SUBSCRIPTION_MODE (sharded Pub/Sub; docs/cluster.md), REDIS_STREAM_NAME
#      REDIS_STREAM_MAXLEN REDIS_STREAM_COUNT REDIS_STREAM_SHARDED_PUBSUB (Redis streams)
#      and CONNECTION_STATE_RECOVERY
#
# Needs the Debian packages redis-server and nginx (their system services are not used:
# every process here has its own port, config, pid and log files under CLUSTER_DIR).
#
# Node k listens on its own port with CHATIFY_NODE_ID=nodek, so its Engine.IO polling
# handshake sets the cookie chatify_node=nodek. nginx maps that cookie to an upstream
# whose primary server is node k and whose backups are the other nodes (a dead node's
# clients fail over); without the cookie (a new client) requests go to all nodes,
# least connections first. ip_hash would send every client of 127.0.0.1 to one node.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${CLUSTER_DIR:-$ROOT/.cluster}"
case "$DIR" in /*) ;; *) DIR="$PWD/$DIR" ;; esac
STATE="$DIR/state"
LOGS="$DIR/logs"
NGINX_PREFIX="$DIR/nginx"
START_TIMEOUT="${CLUSTER_START_TIMEOUT:-90}"
PASS_VARS=(SECRET_KEY JWT_SECRET_KEY JWT_TOKEN_LOCATION JWT_ACCESS_COOKIE_PATH JWT_ACCESS_COOKIE_NAME
  JWT_COOKIE_CSRF_PROTECT JWT_ACCESS_TOKEN_EXPIRES USERS_COLLECTION ROOMS_COLLECTION CORS_ALLOWED_ORIGINS
  FLASK_DEBUG LOG_LEVEL LOG_FORMAT
  MAX_CONNECTIONS_PER_IP MAX_TCP_CONNECTIONS_PER_IP MAX_CONNECTIONS_PER_USER SOCKET_EVENTS_PER_SECOND USER_EVENTS_PER_SECOND
  REGISTRATIONS_PER_HOUR MAX_ROOMS_PER_SOCKET REDIS_ADAPTER REDIS_SUBSCRIPTION_MODE
  REDIS_STREAM_NAME REDIS_STREAM_MAXLEN REDIS_STREAM_COUNT REDIS_STREAM_SHARDED_PUBSUB CONNECTION_STATE_RECOVERY)

die() { echo "cluster: $*" >&2; exit 1; }
say() { echo "cluster: $*"; }

# The last lines of a log, for error messages.
tail_of() {
  local file=$1
  echo "---- last lines of $file ----" >&2
  if [ -s "$file" ]; then tail -n "${2:-40}" "$file" >&2; else echo "(empty or missing)" >&2; fi
  echo "----" >&2
}

# N distinct free TCP ports of 127.0.0.1 (bound together, so they differ).
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
sockets = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    sockets.append(s)
print(" ".join(str(s.getsockname()[1]) for s in sockets))
PY
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# Whether pid $1 is still the program $2 we started (not a reused pid).
is_ours() {
  local pid=$1 name=$2
  alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$name"
}

# Sends TERM (and CONT, in case it was SIGSTOPped), waits up to $3 s, then KILL.
stop_pid() {
  local pid=$1 name=$2 wait=${3:-5}
  is_ours "$pid" "$name" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  kill -CONT "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < wait * 10; i++)); do alive "$pid" || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 20; i++)); do alive "$pid" || return 0; sleep 0.1; done
}

# Runs a command detached (own session, no terminal, output to a log); prints its pid.
spawn() {
  local log=$1 pidfile=$2 workdir=$3
  shift 3
  rm -f "$pidfile"
  (cd "$workdir" && exec setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@") </dev/null >>"$log" 2>&1 &
  local i
  for ((i = 0; i < 50; i++)); do [ -s "$pidfile" ] && break; sleep 0.02; done
  cat "$pidfile"
}

write_state() {
  local tmp="$STATE.tmp" k
  {
    echo "# written by scripts/cluster.sh; read by the other commands and Compat/cluster"
    echo "DIR=$DIR"
    echo "URL=http://127.0.0.1:$NGINX_PORT"
    echo "NODES=$NODES"
    echo "DATABASE_NAME=$DATABASE"
    echo "USE_REDIS=$USE_REDIS"
    echo "CHATIFY_BIN=$BIN"
    echo "NGINX_PORT=$NGINX_PORT"
    echo "NGINX_PID=${NGINX_PID:-}"
    echo "NGINX_CONF=$NGINX_PREFIX/nginx.conf"
    echo "NGINX_ACCESS_LOG=$NGINX_PREFIX/access.log"
    echo "NGINX_ERROR_LOG=$NGINX_PREFIX/error.log"
    echo "REDIS_PORT=$REDIS_PORT"
    echo "REDIS_PID=${REDIS_PID:-}"
    echo "REDIS_URL=redis://127.0.0.1:$REDIS_PORT"
    echo "REDIS_SHARDS=${REDIS_SHARDS:-1}"
    # Comma-separated, so that sourcing the file as it is works too.
    local list
    for list in REDIS_CLUSTER_PORTS REDIS_BUS_PORTS REDIS_CLUSTER_PIDS; do
      echo "$list=$(echo "${!list:-}" | tr ' ' ,)"
    done
    echo "MONGO_PORT=$MONGO_PORT"
    echo "MONGO_DIR=$DIR/mongo"
    echo "MONGODB_URI=mongodb://127.0.0.1:$MONGO_PORT/"
    echo "WATCHDOG_PID=${WATCHDOG_PID:-}"
    for ((k = 1; k <= NODES; k++)); do
      local port_var="NODE${k}_PORT" pid_var="NODE${k}_PID"
      echo "NODE${k}_PORT=${!port_var}"
      echo "NODE${k}_PID=${!pid_var:-}"
      echo "NODE${k}_LOG=$LOGS/node$k.log"
    done
  } >"$tmp"
  mv "$tmp" "$STATE"
}

load_state() {
  [ -f "$STATE" ] || die "no cluster state in $DIR (not started?)"
  # shellcheck disable=SC1090
  source <(grep -E '^[A-Z0-9_]+=' "$STATE" | sed -E "s/^([A-Z0-9_]+)=(.*)$/\1='\2'/")
  NODES=${NODES:?}
  REDIS_CLUSTER_PORTS=$(echo "${REDIS_CLUSTER_PORTS:-}" | tr , ' ')
  REDIS_BUS_PORTS=$(echo "${REDIS_BUS_PORTS:-}" | tr , ' ')
  REDIS_CLUSTER_PIDS=$(echo "${REDIS_CLUSTER_PIDS:-}" | tr , ' ')
  DATABASE=$DATABASE_NAME
  BIN=$CHATIFY_BIN
}

write_nginx_conf() {
  local conf="$NGINX_PREFIX/nginx.conf" k j
  mkdir -p "$NGINX_PREFIX/temp"
  {
    cat <<EOF
# Generated by scripts/cluster.sh for this cluster only.
worker_processes 1;
worker_rlimit_nofile 16384;
daemon off;
pid $NGINX_PREFIX/nginx.pid;
error_log $NGINX_PREFIX/error.log warn;
events { worker_connections 8192; }
http {
    log_format cluster '\$msec \$request_method \$uri sid=\$arg_sid transport=\$arg_transport status=\$status '
                       'upstream=\$upstream_addr upstream_status=\$upstream_status '
                       'cookie_node=\$cookie_chatify_node time=\$request_time';
    access_log $NGINX_PREFIX/access.log cluster;
    client_body_temp_path $NGINX_PREFIX/temp/client_body;
    proxy_temp_path $NGINX_PREFIX/temp/proxy;
    fastcgi_temp_path $NGINX_PREFIX/temp/fastcgi;
    uwsgi_temp_path $NGINX_PREFIX/temp/uwsgi;
    scgi_temp_path $NGINX_PREFIX/temp/scgi;
    default_type application/octet-stream;

    # WebSocket: pass the upgrade on; plain requests get "Connection: close" upstream.
    map \$http_upgrade \$connection_upgrade {
        default upgrade;
        ''      close;
    }

    # Sticky long-polling: the node that answered the handshake set chatify_node=<node>.
    map \$cookie_chatify_node \$chatify_upstream {
EOF
    for ((k = 1; k <= NODES; k++)); do echo "        node$k upstream_node$k;"; done
    echo "        default upstream_all;"
    echo "    }"
    echo
    for ((k = 1; k <= NODES; k++)); do
      local port_var="NODE${k}_PORT"
      echo "    upstream upstream_node$k {"
      echo "        server 127.0.0.1:${!port_var} max_fails=1 fail_timeout=5s;"
      for ((j = 1; j <= NODES; j++)); do
        [ "$j" = "$k" ] && continue
        local other="NODE${j}_PORT"
        echo "        server 127.0.0.1:${!other} backup max_fails=1 fail_timeout=5s;"
      done
      echo "    }"
    done
    echo "    upstream upstream_all {"
    echo "        least_conn;"
    for ((k = 1; k <= NODES; k++)); do
      local port_var="NODE${k}_PORT"
      echo "        server 127.0.0.1:${!port_var} max_fails=1 fail_timeout=5s;"
    done
    echo "    }"
    cat <<EOF

    server {
        listen 127.0.0.1:$NGINX_PORT;
        server_name localhost;
        client_max_body_size 2m;

        location / {
            proxy_pass http://\$chatify_upstream;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Real-IP \$remote_addr;
            # Long-polling answers go out as they come.
            proxy_buffering off;
            proxy_request_buffering off;
            # WebSockets and long-polls stay open far longer than the default 60 s.
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
            # A dead node is skipped at once: refused connections go to the next server.
            proxy_connect_timeout 1s;
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries $NODES;
            proxy_next_upstream_timeout 5s;
        }
    }
}
EOF
  } >"$conf"
}

node_env() {
  local k=$1 port_var="NODE${1}_PORT" v
  NODE_ENV=(
    "PATH=$PATH" "HOME=${HOME:-/tmp}" "LANG=${LANG:-C.UTF-8}"
    HOST=127.0.0.1 "PORT=${!port_var}" "CHATIFY_NODE_ID=node$k"
    "MONGODB_LOCAL_URI=mongodb://127.0.0.1:$MONGO_PORT/" "DATABASE_NAME=$DATABASE"
    "SOCKETIO_CLIENT_JS=$ROOT/Vendor/socket.io.min.js" FLASK_DEBUG=False LOG_LEVEL=info
  )
  [ "${USE_REDIS:-1}" = 0 ] || NODE_ENV+=("REDIS_URL=redis://127.0.0.1:$REDIS_PORT")
  [ "${USE_REDIS:-1}" = 0 ] || [ "${REDIS_SHARDS:-1}" = 1 ] || NODE_ENV+=(REDIS_CLUSTER=true)
  [ -z "${TZ:-}" ] || NODE_ENV+=("TZ=$TZ")
  [ -z "${LD_LIBRARY_PATH:-}" ] || NODE_ENV+=("LD_LIBRARY_PATH=$LD_LIBRARY_PATH")
  # The caller's chatify settings, saved at start so restart-node uses the same ones.
  if [ -f "$DIR/node.env" ]; then
    while IFS= read -r v; do [ -n "$v" ] && NODE_ENV+=("$v"); done <"$DIR/node.env"
  fi
}

start_node() {
  local k=$1 port_var="NODE${1}_PORT"
  mkdir -p "$DIR/node$k"
  port_in_use "${!port_var}" && die "port ${!port_var} of node$k is already in use"
  node_env "$k"
  echo "== $(date '+%F %T') starting node$k on 127.0.0.1:${!port_var}" >>"$LOGS/node$k.log"
  # Its own empty working directory: no stray .env is read.
  printf -v "NODE${k}_PID" '%s' "$(spawn "$LOGS/node$k.log" "$DIR/node$k/pid" "$DIR/node$k" env -i "${NODE_ENV[@]}" "$BIN")"
}

# Waits until node k printed its listening line for this start and answers HTTP.
wait_node() {
  local k=$1 deadline=$2 port_var="NODE${1}_PORT" pid_var="NODE${1}_PID"
  while :; do
    alive "${!pid_var}" || { tail_of "$LOGS/node$k.log"; die "node$k exited during start"; }
    if tail -n 200 "$LOGS/node$k.log" | grep -q "chatify listening on 127.0.0.1:${!port_var}" &&
      curl -s -o /dev/null --max-time 2 "http://127.0.0.1:${!port_var}/login"; then
      return 0
    fi
    [ "$SECONDS" -lt "$deadline" ] || { tail_of "$LOGS/node$k.log"; die "node$k did not answer within $START_TIMEOUT s"; }
    sleep 0.1
  done
}

redis_cli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

# How many nodes listen to the adapter's channel of the namespace /: its request channel,
# or with sharded Pub/Sub or streams its main channel (in a Redis Cluster only the shard that owns
# the channel counts its listeners, so every shard is asked).
subscribed_nodes() {
  local count=(NUMSUB 'socket.io-request#/#') port n total=0
  if grep -qix 'REDIS_ADAPTER=sharded' "$DIR/node.env" 2>/dev/null; then count=(SHARDNUMSUB 'socket.io#/#'); fi
  # Streams nodes listen to the namespace's channel with SUBSCRIBE, or SSUBSCRIBE.
  if grep -qix 'REDIS_ADAPTER=streams' "$DIR/node.env" 2>/dev/null; then
    count=(NUMSUB 'socket.io#/#')
    if grep -qiEx 'REDIS_STREAM_SHARDED_PUBSUB=(true|1|yes|on)' "$DIR/node.env"; then count=(SHARDNUMSUB 'socket.io#/#'); fi
  fi
  for port in ${REDIS_CLUSTER_PORTS:-$REDIS_PORT}; do
    n=$(redis-cli -h 127.0.0.1 -p "$port" PUBSUB "${count[@]}" 2>/dev/null | sed -n 2p)
    total=$((total + ${n:-0}))
  done
  echo "$total"
}

# Waits until $1 nodes are subscribed to the adapter's request channel.
wait_subscribed() {
  local want=$1 deadline=$2 have
  while :; do
    have=$(subscribed_nodes)
    [ "${have:-0}" -ge "$want" ] && return 0
    if [ "$SECONDS" -ge "$deadline" ]; then
      local k
      for ((k = 1; k <= NODES; k++)); do tail_of "$LOGS/node$k.log" 20; done
      die "only ${have:-0} of $want nodes subscribed to Redis within $START_TIMEOUT s"
    fi
    sleep 0.1
  done
}

start_watchdog() {
  local owner=$1
  # Stops the cluster when the owner process ends (or quits when the cluster is gone).
  (
    trap '' INT
    while kill -0 "$owner" 2>/dev/null && [ -f "$STATE" ]; do sleep 1; done
    [ -f "$STATE" ] && CLUSTER_DIR="$DIR" "$ROOT/scripts/cluster.sh" stop >>"$LOGS/watchdog.log" 2>&1
  ) </dev/null >/dev/null 2>&1 &
  WATCHDOG_PID=$!
}

cmd_start() {
  local begin=$SECONDS
  if [ -f "$STATE" ]; then
    ( load_state
      for pid in "$NGINX_PID" "$REDIS_PID"; do alive "$pid" && exit 1; done
      for ((k = 1; k <= NODES; k++)); do v="NODE${k}_PID"; alive "${!v}" && exit 1; done
      exit 0 ) || die "a cluster is already running in $DIR: run 'scripts/cluster.sh stop' first"
    # A stale state (killed, reboot): stop what may be left of it.
    cmd_stop >/dev/null 2>&1 || true
  fi
  NODES="${CLUSTER_NODES:-3}"
  [[ "$NODES" =~ ^[1-9][0-9]?$ ]] || die "CLUSTER_NODES must be 1..99, not $NODES"
  BIN="${CHATIFY_BIN:-$ROOT/.build/debug/chatify}"
  case "$BIN" in /*) ;; *) BIN="$PWD/$BIN" ;; esac
  [ -x "$BIN" ] || die "chatify binary $BIN not found: build it with 'swift build --product chatify' or set CHATIFY_BIN"
  command -v redis-server >/dev/null || die "redis-server not found (Debian package redis-server)"
  command -v redis-cli >/dev/null || die "redis-cli not found (Debian package redis-tools)"
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
  [ -x "$NGINX" ] || die "nginx not found (Debian package nginx)"
  command -v curl >/dev/null || die "curl not found"
  [ -s "$ROOT/Vendor/socket.io.min.js" ] || say "warning: Vendor/socket.io.min.js missing (scripts/setup fetches it); the chat page will lack its client"
  DATABASE="${CLUSTER_DATABASE:-chatify_cluster}"
  USE_REDIS="${CLUSTER_REDIS:-1}"
  [[ "$USE_REDIS" =~ ^[01]$ ]] || die "CLUSTER_REDIS must be 0 or 1, not $USE_REDIS"
  REDIS_SHARDS="${CLUSTER_REDIS_SHARDS:-1}"
  [[ "$REDIS_SHARDS" =~ ^[13-9]$ ]] || die "CLUSTER_REDIS_SHARDS must be 1 or 3..9, not $REDIS_SHARDS"
  if [ "$REDIS_SHARDS" != 1 ] && [ "$(echo "${REDIS_ADAPTER:-}" | tr A-Z a-z)" != sharded ]; then
    die "CLUSTER_REDIS_SHARDS=$REDIS_SHARDS needs REDIS_ADAPTER=sharded (a Redis Cluster needs sharded Pub/Sub)"
  fi

  rm -rf "$DIR"
  mkdir -p "$DIR" "$LOGS" "$NGINX_PREFIX"
  : >"$DIR/node.env"
  chmod 600 "$DIR/node.env"
  local v
  for v in "${PASS_VARS[@]}"; do
    [ -n "${!v+x}" ] && printf '%s=%s\n' "$v" "${!v}" >>"$DIR/node.env"
  done

  local ports k extra=0
  # A Redis Cluster: a client and a bus port per primary (the first client port is REDIS_PORT).
  [ "$REDIS_SHARDS" = 1 ] || extra=$((2 * REDIS_SHARDS - 1))
  read -r -a ports <<<"$(free_ports $((NODES + 3 + extra)))"
  REDIS_PORT=${ports[0]}
  MONGO_PORT=${ports[1]}
  NGINX_PORT=${CLUSTER_PORT:-${ports[2]}}
  for ((k = 1; k <= NODES; k++)); do printf -v "NODE${k}_PORT" '%s' "${ports[$((k + 2))]}"; done
  if [ "$REDIS_SHARDS" != 1 ]; then
    REDIS_CLUSTER_PORTS="$REDIS_PORT ${ports[*]:$((NODES + 3)):$((REDIS_SHARDS - 1))}"
    REDIS_BUS_PORTS="${ports[*]:$((NODES + 2 + REDIS_SHARDS)):$REDIS_SHARDS}"
  fi
  port_in_use "$NGINX_PORT" && die "CLUSTER_PORT $NGINX_PORT is already in use"
  write_state
  # From here on a failure stops whatever was started.
  trap 'status=$?; if [ $status -ne 0 ]; then echo "cluster: start failed; stopping what was started (logs stay in $LOGS)" >&2; cmd_stop >/dev/null 2>&1 || true; fi' EXIT
  [ -z "${CLUSTER_OWNER_PID:-}" ] || start_watchdog "$CLUSTER_OWNER_PID"
  local deadline=$((SECONDS + START_TIMEOUT))

  # MongoDB-compatible store, shared by every node.
  if ! MONGO_PORT=$MONGO_PORT MONGO_DIR="$DIR/mongo" MONGO_VENV="${MONGO_VENV:-$ROOT/.mongo-test/venv}" \
    MONGO_OWNER_PID="${CLUSTER_OWNER_PID:-}" "$ROOT/scripts/mongo-test-server.sh" start >"$LOGS/mongo-start.log" 2>&1; then
    tail_of "$LOGS/mongo-start.log"
    tail_of "$DIR/mongo/server.log"
    die "the MongoDB-compatible server did not start"
  fi

  start_redis "$deadline"

  for ((k = 1; k <= NODES; k++)); do start_node "$k"; done
  write_state
  for ((k = 1; k <= NODES; k++)); do wait_node "$k" "$deadline"; done
  [ "$USE_REDIS" = 0 ] || wait_subscribed "$NODES" "$deadline"

  write_nginx_conf
  if ! "$NGINX" -t -q -p "$NGINX_PREFIX" -e "$NGINX_PREFIX/error.log" -c "$NGINX_PREFIX/nginx.conf" >"$LOGS/nginx-test.log" 2>&1; then
    tail_of "$LOGS/nginx-test.log"
    die "nginx refused the generated config $NGINX_PREFIX/nginx.conf"
  fi
  NGINX_PID=$(spawn "$LOGS/nginx.log" "$NGINX_PREFIX/master.pid" "$NGINX_PREFIX" "$NGINX" -p "$NGINX_PREFIX" \
    -e "$NGINX_PREFIX/error.log" -c "$NGINX_PREFIX/nginx.conf")
  write_state
  until curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$NGINX_PORT/login"; do
    alive "$NGINX_PID" || { tail_of "$LOGS/nginx.log"; tail_of "$NGINX_PREFIX/error.log"; die "nginx exited"; }
    [ "$SECONDS" -lt "$deadline" ] || { tail_of "$NGINX_PREFIX/error.log"; die "nginx did not answer"; }
    sleep 0.05
  done
  trap - EXIT
  say "$NODES nodes, redis :$REDIS_PORT, mongo :$MONGO_PORT, nginx :$NGINX_PORT; up in $((SECONDS - begin)) s"
  say "state and logs in $DIR"
  echo "http://127.0.0.1:$NGINX_PORT"
}

cmd_stop() {
  [ -f "$STATE" ] || { say "nothing to stop in $DIR"; return 0; }
  load_state
  local k v stoppers=()
  stop_pid "${NGINX_PID:-}" nginx 5
  for ((k = 1; k <= NODES; k++)); do
    v="NODE${k}_PID"
    [ -z "${!v:-}" ] || { stop_pid "${!v}" chatify 8 & stoppers+=($!); }
  done
  # Only those: a failed start's own watchdog is a background job of this shell too.
  for v in "${stoppers[@]}"; do wait "$v" || true; done
  stop_pid "${REDIS_PID:-}" redis-server 5
  for v in ${REDIS_CLUSTER_PIDS:-}; do stop_pid "$v" redis-server 5; done
  if [ -f "$MONGO_DIR/server.pid" ]; then
    MONGO_DIR="$MONGO_DIR" "$ROOT/scripts/mongo-test-server.sh" stop || true
  fi
  # The watchdog, unless it is the one stopping us.
  if [ -n "${WATCHDOG_PID:-}" ] && [ "$WATCHDOG_PID" != "$PPID" ]; then
    kill "$WATCHDOG_PID" 2>/dev/null || true
  fi
  rm -f "$STATE"
  say "stopped (logs kept in $DIR)"
}

cmd_status() {
  load_state
  local k v p running=0
  show() {
    local what=$1 pid=$2 name=$3 port=$4
    if is_ours "$pid" "$name"; then
      local st; st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)
      printf '%-8s pid %-7s 127.0.0.1:%-6s %s\n' "$what" "$pid" "$port" "$([ "$st" = T ] && echo stopped || echo running)"
      running=$((running + 1))
    else
      printf '%-8s pid %-7s 127.0.0.1:%-6s down\n' "$what" "${pid:--}" "$port"
    fi
  }
  echo "cluster in $DIR: $URL"
  show nginx "$NGINX_PID" nginx "$NGINX_PORT"
  if [ "${REDIS_SHARDS:-1}" = 1 ]; then
    show redis "$REDIS_PID" redis-server "$REDIS_PORT"
  else
    local pids=($REDIS_CLUSTER_PIDS) rports=($REDIS_CLUSTER_PORTS) j
    for ((j = 0; j < REDIS_SHARDS; j++)); do show "redis$((j + 1))" "${pids[$j]:-}" redis-server "${rports[$j]}"; done
    running=$((running - REDIS_SHARDS + 1))
  fi
  show mongo "$(cat "$MONGO_DIR/server.pid" 2>/dev/null || true)" secantus "$MONGO_PORT"
  for ((k = 1; k <= NODES; k++)); do
    v="NODE${k}_PID"; p="NODE${k}_PORT"
    show "node$k" "${!v}" chatify "${!p}"
  done
  [ "$running" -eq $((NODES + 3)) ]
}

# Redis: no persistence, loopback only, no config file.
start_redis() {
  local deadline=$1
  if [ "${REDIS_SHARDS:-1}" != 1 ]; then start_redis_cluster "$deadline"; return; fi
  port_in_use "$REDIS_PORT" && die "port $REDIS_PORT of redis is already in use"
  REDIS_PID=$(spawn "$LOGS/redis.log" "$DIR/redis.pid" "$DIR" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 \
    --save '' --appendonly no --daemonize no --dir "$DIR" --logfile '' --protected-mode yes)
  write_state
  until [ "$(redis_cli PING 2>/dev/null)" = PONG ]; do
    alive "$REDIS_PID" || { tail_of "$LOGS/redis.log"; die "redis-server exited"; }
    [ "$SECONDS" -lt "$deadline" ] || { tail_of "$LOGS/redis.log"; die "redis-server did not answer"; }
    sleep 0.05
  done
}

# A Redis Cluster of REDIS_SHARDS primaries (no replicas), joined with redis-cli, on
# REDIS_CLUSTER_PORTS with their cluster bus on REDIS_BUS_PORTS; returns once every node
# says the cluster is ok.
start_redis_cluster() {
  local deadline=$1 rports=($REDIS_CLUSTER_PORTS) buses=($REDIS_BUS_PORTS) j pid pids=() addresses=()
  for ((j = 0; j < REDIS_SHARDS; j++)); do
    port_in_use "${rports[$j]}" && die "port ${rports[$j]} of redis$((j + 1)) is already in use"
    mkdir -p "$DIR/redis$((j + 1))"
    pid=$(spawn "$LOGS/redis$((j + 1)).log" "$DIR/redis$((j + 1)).pid" "$DIR/redis$((j + 1))" redis-server \
      --port "${rports[$j]}" --bind 127.0.0.1 --save '' --appendonly no --daemonize no --logfile '' \
      --protected-mode yes --dir "$DIR/redis$((j + 1))" --cluster-enabled yes --cluster-port "${buses[$j]}" \
      --cluster-config-file nodes.conf --cluster-node-timeout 5000)
    pids+=("$pid")
    addresses+=("127.0.0.1:${rports[$j]}")
  done
  REDIS_PID=${pids[0]}
  REDIS_CLUSTER_PIDS="${pids[*]}"
  write_state
  for ((j = 0; j < REDIS_SHARDS; j++)); do
    until [ "$(redis-cli -h 127.0.0.1 -p "${rports[$j]}" PING 2>/dev/null)" = PONG ]; do
      alive "${pids[$j]}" || { tail_of "$LOGS/redis$((j + 1)).log"; die "redis$((j + 1)) exited"; }
      [ "$SECONDS" -lt "$deadline" ] || die "redis$((j + 1)) did not answer"
      sleep 0.05
    done
  done
  redis-cli --cluster create "${addresses[@]}" --cluster-yes >"$LOGS/redis-cluster-create.log" 2>&1 ||
    { tail_of "$LOGS/redis-cluster-create.log"; die "redis-cli --cluster create failed"; }
  for ((j = 0; j < REDIS_SHARDS; j++)); do
    until redis-cli -h 127.0.0.1 -p "${rports[$j]}" CLUSTER INFO 2>/dev/null | grep -q 'cluster_state:ok'; do
      [ "$SECONDS" -lt "$deadline" ] || die "the Redis Cluster did not come up"
      sleep 0.05
    done
  done
}

# Redis going away under a running cluster (the nodes stay up).
cmd_stop_redis() {
  load_state
  [ "${REDIS_SHARDS:-1}" = 1 ] || die "stop-redis is for a single redis-server, not a Redis Cluster"
  stop_pid "${REDIS_PID:-}" redis-server 5
  say "redis-server stopped"
}

# Redis back on its port; returns once every node has subscribed again.
cmd_start_redis() {
  load_state
  [ "${USE_REDIS:-1}" = 1 ] || die "this cluster runs without Redis (CLUSTER_REDIS=0)"
  [ "${REDIS_SHARDS:-1}" = 1 ] || die "start-redis is for a single redis-server, not a Redis Cluster"
  local deadline=$((SECONDS + START_TIMEOUT)) k v running=0
  start_redis "$deadline"
  # Only the nodes that run can subscribe again.
  for ((k = 1; k <= NODES; k++)); do
    v="NODE${k}_PID"
    is_ours "${!v:-}" chatify && running=$((running + 1))
  done
  wait_subscribed "$running" "$deadline"
  say "redis-server started (pid $REDIS_PID); $running nodes subscribed again"
}

node_number() {
  [[ "${1:-}" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le "$NODES" ] || die "no node '${1:-}' (1..$NODES)"
}

cmd_kill_node() {
  load_state
  node_number "${1:-}"
  local v="NODE${1}_PID"
  is_ours "${!v}" chatify || die "node$1 is not running"
  kill -KILL "${!v}"
  local i
  for ((i = 0; i < 50; i++)); do alive "${!v}" || break; sleep 0.02; done
  say "node$1 (pid ${!v}) killed"
}

cmd_restart_node() {
  load_state
  node_number "${1:-}"
  local k=$1 v="NODE${1}_PID"
  [ -z "${!v:-}" ] || stop_pid "${!v}" chatify 8
  local deadline=$((SECONDS + START_TIMEOUT))
  local before
  before=$(subscribed_nodes)
  start_node "$k"
  write_state
  wait_node "$k" "$deadline"
  [ "${USE_REDIS:-1}" = 0 ] || wait_subscribed $((${before:-0} + 1)) "$deadline"
  v="NODE${k}_PID"
  say "node$k restarted (pid ${!v})"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
kill-node) cmd_kill_node "${2:-}" ;;
restart-node) cmd_restart_node "${2:-}" ;;
stop-redis) cmd_stop_redis ;;
start-redis) cmd_start_redis ;;
*) echo "usage: $0 start|stop|status|kill-node N|restart-node N|stop-redis|start-redis" >&2; exit 2 ;;
esac
