#!/usr/bin/env bash
# Runs the gateway compatibility suites (Compat/gateway) against the real chatify server.
# The binary is CHATIFY_BIN (a relative path is taken from the caller's directory) or,
# by default, .build/debug/chatify in the repository root (swift build --product chatify).
# COMPAT_VENV (default .venv-compat, relative to the repository root) is created or updated
# from Compat/requirements.txt. Extra arguments go to pytest; its exit status is the script's.
set -euo pipefail

if [[ -n "${CHATIFY_BIN:-}" && "${CHATIFY_BIN}" != /* ]]; then
    CHATIFY_BIN="$PWD/$CHATIFY_BIN"
fi

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

source Compat/suite-common.sh
chatify_binary "gateway compat"

# The stock Socket.IO browser client the chat page serves (never committed): scripts/setup
# puts it in Vendor/ (the server gets it as SOCKETIO_CLIENT_JS, see conftest.py).
if [[ ! -s Vendor/socket.io.min.js ]]; then
    scripts/setup
fi

VENV="${COMPAT_VENV:-.venv-compat}"
suite_venv "$VENV" Compat/requirements.txt

status=0
"$VENV/bin/python" -m pytest Compat/gateway -q -p no:cacheprovider "$@" || status=$?
exit "$status"
