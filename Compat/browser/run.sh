#!/usr/bin/env bash
# Runs the real-browser end-to-end suite (Compat/browser): headless Chromium driven by
# Selenium through the system chromedriver, against the real chatify server.
# Needs the Debian packages chromium and chromium-driver (apt-get install -y chromium
# chromium-driver). The server binary is CHATIFY_BIN (a relative path is taken from the
# caller's directory) or, by default, .build/debug/chatify in the repository root
# (swift build --product chatify). COMPAT_VENV (default .venv-compat, relative to the
# repository root) is created or updated from Compat/requirements.txt. Extra arguments go
# to pytest; its exit status is the script's.
set -euo pipefail

if [[ -n "${CHATIFY_BIN:-}" && "${CHATIFY_BIN}" != /* ]]; then
    CHATIFY_BIN="$PWD/$CHATIFY_BIN"
fi

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

source Compat/suite-common.sh
chatify_binary "browser e2e"

missing=()
for tool in chromium chromedriver; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if (( ${#missing[@]} > 0 )); then
    echo "browser e2e: ${missing[*]} not found on PATH;" \
        "install the Debian packages: apt-get install -y chromium chromium-driver" >&2
    exit 2
fi

VENV="${COMPAT_VENV:-.venv-compat}"
suite_venv "$VENV" Compat/requirements.txt

status=0
"$VENV/bin/python" -m pytest Compat/browser -q -p no:cacheprovider "$@" || status=$?
exit "$status"
