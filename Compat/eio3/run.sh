#!/usr/bin/env bash
# Runs the Engine.IO v3 suite (Compat/eio3): python-socketio 4.6.1 / python-engineio
# 3.14.2 clients against the real chatify server, with ALLOW_EIO3 on and off. The server
# binary is CHATIFY_BIN (a relative path is taken from the caller's directory) or, by
# default, .build/debug/chatify. EIO3_VENV (default .venv-eio3, relative to the
# repository root) is created or updated from Compat/eio3/requirements.txt; it is
# separate from .venv-compat, whose 5.x clients conflict with these. Extra arguments go
# to pytest; its exit status is the script's.
set -euo pipefail
[[ -n "${CHATIFY_BIN:-}" && "${CHATIFY_BIN}" != /* ]] && CHATIFY_BIN="$PWD/$CHATIFY_BIN"
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source Compat/suite-common.sh

chatify_binary "eio3 compat"
venv="${EIO3_VENV:-.venv-eio3}"
suite_venv "$venv" Compat/eio3/requirements.txt

status=0
"$venv/bin/python" -m pytest Compat/eio3 -q -p no:cacheprovider "$@" || status=$?
exit "$status"
