#!/usr/bin/env bash
# A throwaway PgBouncer (Debian's `pgbouncer` package) in transaction mode, on 127.0.0.1, in front
# of a PostgreSQL server that trusts local connections. Used by `.ci/run` (the suite through a
# transaction pooler) and `make scale-out`. Never touches a system-wide PgBouncer.
#
#   scripts/pgbouncer.sh start DIR PORT [POOL_SIZE] [PG_HOST] [PG_PORT]   # waits until it answers
#   scripts/pgbouncer.sh stop DIR
# As root it runs as the postgres user, who must be able to reach DIR (mktemp -d in /tmp will do).
#
# Every database name is forwarded to the server (`* =`), so test databases made on the fly work.
# Its server connections get the app's default statement and lock timeouts (connect_query): the app
# cannot send them itself through PgBouncer (DATABASE_STATEMENT_TIMEOUT_MS, DATABASE_LOCK_TIMEOUT_MS).
# Fails (exit 1, with PgBouncer's log) when it cannot start: callers must not carry on without it.
set -euo pipefail

action="${1:?usage: pgbouncer.sh start|stop DIR [PORT] [POOL_SIZE] [PG_HOST] [PG_PORT]}"
dir="${2:?the directory for the configuration, log and pid file of PgBouncer}"

case "$action" in
start)
    port="${3:?the port to listen on}"
    pool_size="${4:-20}"
    pg_host="${5:-127.0.0.1}"
    pg_port="${6:-5432}"
    program="$(command -v pgbouncer || echo /usr/sbin/pgbouncer)"
    if [[ ! -x "$program" ]]; then
        echo "pgbouncer is not installed (apt-get install pgbouncer)." >&2
        exit 1
    fi
    mkdir -p "$dir"
    # The server trusts 127.0.0.1, so PgBouncer does too; the user must still be listed.
    echo '"postgres" ""' >"$dir/users.txt"
    cat >"$dir/pgbouncer.ini" <<EOF
[databases]
* = host=$pg_host port=$pg_port connect_query='SET statement_timeout = 5000; SET lock_timeout = 2000'

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
pool_mode = transaction
default_pool_size = $pool_size
max_client_conn = 500
server_reset_query =
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF
    # PgBouncer refuses to run as root: as root it switches to the postgres user (-u).
    as_user=()
    if [[ "$(id -u)" == 0 ]]; then
        chown -R postgres "$dir"
        as_user=(-u postgres)
    fi
    "$program" -d "${as_user[@]}" "$dir/pgbouncer.ini" || {
        echo "pgbouncer did not start:" >&2
        cat "$dir/pgbouncer.log" >&2 2>/dev/null || true
        exit 1
    }
    for _ in $(seq 1 50); do
        if pg_isready -q -h 127.0.0.1 -p "$port" -t 1; then
            echo "PgBouncer (transaction mode, pool $pool_size) on 127.0.0.1:$port in front of $pg_host:$pg_port"
            exit 0
        fi
        sleep 0.2
    done
    echo "pgbouncer started but does not answer on 127.0.0.1:$port:" >&2
    cat "$dir/pgbouncer.log" >&2 2>/dev/null || true
    exit 1
    ;;
stop)
    if [[ -f "$dir/pgbouncer.pid" ]]; then
        pid="$(cat "$dir/pgbouncer.pid")"
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || exit 0
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    ;;
*)
    echo "usage: pgbouncer.sh start|stop DIR ..." >&2
    exit 2
    ;;
esac
