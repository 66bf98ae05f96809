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
ROOT="$PWD"

export CHATIFY_BIN="${CHATIFY_BIN:-$ROOT/.build/debug/chatify}"
if [[ ! -x "$CHATIFY_BIN" ]]; then
    echo "gateway compat: server binary $CHATIFY_BIN not found;" \
        "build it with 'swift build --product chatify' or set CHATIFY_BIN" >&2
    exit 2
fi

# The stock Socket.IO browser client the chat page serves (never committed): scripts/setup
# puts it in Vendor/ (the server gets it as SOCKETIO_CLIENT_JS, see conftest.py).
if [[ ! -s Vendor/socket.io.min.js ]]; then
    scripts/setup
fi

VENV="${COMPAT_VENV:-.venv-compat}"
PYTHON="${PYTHON:-python3}"
if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r Compat/requirements.txt

status=0
"$VENV/bin/python" -m pytest Compat/gateway -q -p no:cacheprovider "$@" || status=$?
exit "$status"
