#!/usr/bin/env bash
# Runs the cluster suite (Compat/cluster): scripts/cluster.sh starts SecantusDB,
# redis-server, 3 chatify nodes and nginx on free loopback ports; stock python-socketio
# clients, python redis and msgpack drive them. The binary is CHATIFY_BIN (a relative
# path is taken from the caller's directory) or .build/debug/chatify in the repository
# root. COMPAT_VENV (default .venv-compat) is created or updated from
# Compat/requirements.txt. Extra arguments go to pytest; its exit status is the script's.
set -euo pipefail

if [[ -n "${CHATIFY_BIN:-}" && "${CHATIFY_BIN}" != /* ]]; then
    CHATIFY_BIN="$PWD/$CHATIFY_BIN"
fi

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

source Compat/suite-common.sh
chatify_binary "cluster compat"
for tool in redis-server redis-cli nginx curl; do
    command -v "$tool" >/dev/null || [[ -x "/usr/sbin/$tool" ]] || {
        echo "cluster compat: $tool not found (scripts/setup --test installs it)" >&2
        exit 2
    }
done

VENV="${COMPAT_VENV:-.venv-compat}"
suite_venv "$VENV" Compat/requirements.txt

status=0
"$VENV/bin/python" -m pytest Compat/cluster -q -p no:cacheprovider "$@" || status=$?
exit "$status"
