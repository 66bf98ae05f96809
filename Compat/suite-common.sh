# Shared by the Compat suites' run.sh scripts (sourced, from the repository root):
#   chatify_binary <suite name>     exports CHATIFY_BIN (default .build/debug/chatify), or exits 2
#   suite_venv <venv dir> <requirements file>   creates the venv and installs the pins when they changed
# A relative CHATIFY_BIN must already be made absolute by the caller (it changed directory).

chatify_binary() {
    export CHATIFY_BIN="${CHATIFY_BIN:-$PWD/.build/debug/chatify}"
    if [[ ! -x "$CHATIFY_BIN" ]]; then
        echo "$1: server binary $CHATIFY_BIN not found;" \
            "build it with 'swift build --product chatify' or set CHATIFY_BIN" >&2
        exit 2
    fi
}

suite_venv() {
    local venv="$1" requirements="$2"
    if [[ ! -x "$venv/bin/python" ]]; then
        "${PYTHON:-python3}" -m venv "$venv"
    fi
    if ! cmp -s "$requirements" "$venv/.requirements" 2>/dev/null; then
        "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements"
        cp "$requirements" "$venv/.requirements"
    fi
}
