#!/usr/bin/env bash
# Checks the container files without a Docker engine: `docker compose config` must accept
# docker-compose.yml alone and with compose.dev.yml, silently, and hadolint must have nothing to say
# about the Dockerfile. Uses the binaries that requirements/dev.txt installs into .venv
# (`make install-dev`). Any output from a check counts as a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/quiet-checks.sh
require_tools docker-compose hadolint

# Placeholder values for the variables docker-compose.yml requires (${VAR:?}); they are only
# interpolated, never used. Set here so that a developer's own .env or environment cannot make the
# check fail or pass by accident.
compose_env=(SECRET_KEY=check-only JWT_SECRET_KEY=check-only-jwt ADMIN_PASSWORD=check-only)

# --quiet: validate only, so that values from a local .env are never printed.
compose_config() {
    env "${compose_env[@]}" "$BIN/docker-compose" "$@" config --quiet
}

check "docker compose config (docker-compose.yml)" compose_config -f docker-compose.yml
check "docker compose config (docker-compose.yml + compose.dev.yml)" \
    compose_config -f docker-compose.yml -f compose.dev.yml
check "docker compose config (docker-compose.yml, profile pgbouncer)" \
    compose_config -f docker-compose.yml --profile pgbouncer

# --failure-threshold style: every finding fails, whatever its level; any output fails too.
check "hadolint Dockerfile" "$BIN/hadolint" --no-color --failure-threshold style Dockerfile

exit "$status"
