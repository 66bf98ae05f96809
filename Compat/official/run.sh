#!/usr/bin/env bash
# Runs the official Socket.IO protocol suite (kept beside this repository in
# ../shared/protocol-suites, or PROTOCOL_SUITES) against the conformance server, RUNS
# times (default 5), then the strict variant (mocha timeout 450 ms, so no close may
# ride on a heartbeat) as many times. Every run must pass. ENGINEIO_SUITE, if set,
# names the Engine.IO suite's test-suite.js, which then runs too.
#
# The server binary: SOCKETIO_SERVER_BIN, default .build/debug/socketio-conformance-server.
# Without the suites folder the step says so and is skipped (exit 0).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT="$PWD"

suites="${PROTOCOL_SUITES:-$ROOT/../shared/protocol-suites}"
if [[ ! -x "$suites/run.sh" ]]; then
    echo "official suite: $suites/run.sh not found; skipped (set PROTOCOL_SUITES to run it)"
    exit 0
fi
server_bin="${SOCKETIO_SERVER_BIN:-$ROOT/.build/debug/socketio-conformance-server}"
[[ -x "$server_bin" ]] || { echo "official suite: $server_bin not found" >&2; exit 2; }

work="$(mktemp -d)"
server_pid=""
cleanup() {
    [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

"$server_bin" --port 0 >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
port=""
for _ in $(seq 1 600); do
    port="$(sed -n 's/^listening on \([0-9][0-9]*\)$/\1/p' "$work/server.out")"
    [[ -n "$port" ]] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.err" >&2; echo "official suite: server exited" >&2; exit 2; }
    sleep 0.1
done
[[ -n "$port" ]] || { echo "official suite: server did not report its port" >&2; exit 2; }
url="http://127.0.0.1:$port"
runs="${RUNS:-5}"

echo "official Socket.IO suite, $runs runs against $url"
RUNS="$runs" "$suites/run.sh" "$url"
echo "official Socket.IO suite, strict variant (--timeout 450), $runs runs"
RUNS="$runs" MOCHA_ARGS='--timeout 450' "$suites/run.sh" "$url" --grep 'no handshake is received' --invert
