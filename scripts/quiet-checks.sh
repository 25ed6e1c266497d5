# Sourced by the offline checks (check-containers.sh, check-kubernetes.sh): the tools they need from
# .venv (`make install-dev`), and `check`, for which any output from a check counts as a failure.
# `status` ends as 1 when a check failed; the script exits with it.

BIN=.venv/bin
status=0
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

# require_tools TOOL...: stop at once when a tool is missing from .venv/bin.
require_tools() {
    local tool
    for tool in "$@"; do
        if [[ ! -x "$BIN/$tool" ]]; then
            echo "$BIN/$tool is missing: run \`make install-dev\` first." >&2
            exit 1
        fi
    done
}

# check LABEL COMMAND...: "ok: LABEL" when COMMAND succeeds and prints nothing; otherwise
# "FAILED: LABEL" with what it printed, and the script will fail.
check() {
    local label="$1"
    shift
    if "$@" >"$out" 2>&1 && [[ ! -s "$out" ]]; then
        echo "ok: $label"
    else
        echo "FAILED: $label" >&2
        cat "$out" >&2
        status=1
    fi
}
