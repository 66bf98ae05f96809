#!/usr/bin/env bash
# Runs the stock python-socketio client suite (Compat/python) against the conformance
# server. The server binary must exist: .build/debug/socketio-conformance-server by
# default (swift build --product socketio-conformance-server), or SOCKETIO_SERVER_BIN.
# COMPAT_VENV (default .venv-compat, relative to the repository root) is created or updated.
# Extra arguments go to pytest.
set -euo pipefail

# A relative SOCKETIO_SERVER_BIN is meant from the caller's directory.
if [[ -n "${SOCKETIO_SERVER_BIN:-}" && "${SOCKETIO_SERVER_BIN}" != /* ]]; then
    SOCKETIO_SERVER_BIN="$PWD/$SOCKETIO_SERVER_BIN"
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"

export SOCKETIO_SERVER_BIN="${SOCKETIO_SERVER_BIN:-$ROOT/.build/debug/socketio-conformance-server}"
if [[ ! -x "$SOCKETIO_SERVER_BIN" ]]; then
    echo "run-python-compat: server binary $SOCKETIO_SERVER_BIN not found;" \
        "build it with 'swift build --product socketio-conformance-server' or set SOCKETIO_SERVER_BIN" >&2
    exit 2
fi

VENV="${COMPAT_VENV:-.venv-compat}"
PYTHON="${PYTHON:-python3}"
if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r Compat/requirements.txt

# pytest's exit status is the script's.
exec "$VENV/bin/python" -m pytest Compat/python -q -p no:cacheprovider "$@"
