#!/usr/bin/env bash
# A throwaway PostgreSQL for the tests that need one (the PostgreSQL store).
#
#   eval "$(bash tests/pg.sh start)"     # prints export lines; run them in your shell
#   ... cargo test ...                    # tests read MICRO_WASM_TEST_PG
#   bash tests/pg.sh stop "$MICRO_WASM_TEST_PG_DIR"
#
# `start` installs PostgreSQL from Debian's packages when initdb is missing, makes a cluster in
# a new temp dir (an ICU default collation; trust authentication: it only listens on a unix socket in that dir and on
# 127.0.0.1, on a free port), starts it, creates the database `micro_wasm_test` and prints:
#   export MICRO_WASM_TEST_PG=postgres://micro_wasm@127.0.0.1:PORT/micro_wasm_test
#   export MICRO_WASM_TEST_PG_DIR=/tmp/micro-wasm-pg.XXXXXX
# initdb refuses to run as root, so as root the server runs as the `postgres` user (made
# when missing). `stop DIR` stops that server and removes DIR; `pause DIR` and `resume DIR`
# stop and start it keeping its data (for outage tests). Everything else goes to stderr.
set -euo pipefail

log() { echo "tests/pg.sh: $*" >&2; }

find_bin() {
    if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
        dirname "$(readlink -f "$(command -v initdb)")"
        return
    fi
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then
        echo "$dir"
    fi
}

install_pg() {
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    log "installing PostgreSQL from Debian's packages"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >&2
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local bin
    bin=$(find_bin)
    if [ -z "$bin" ]; then
        install_pg
        bin=$(find_bin)
    fi
    [ -n "$bin" ] || { log "no initdb after installing postgresql"; exit 1; }

    local dir port as=()
    dir=$(mktemp -d "${TMPDIR:-/tmp}/micro-wasm-pg.XXXXXX")
    chmod 755 "$dir"
    if [ "$(id -u)" = 0 ]; then
        if ! id postgres >/dev/null 2>&1; then
            useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
        fi
        chown postgres "$dir"
        as=(runuser -u postgres --)
    fi
    port=$(free_port)
    # A default collation that is not byte order (ICU's root locale: 'a' < 'B' < 'b'), as on
    # most real servers, so the tests catch any ordering that forgets COLLATE "C".
    "${as[@]}" "$bin/initdb" -D "$dir/data" -U micro_wasm -A trust -E UTF8 --locale=C.UTF-8 \
        --locale-provider=icu --icu-locale=und --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    tls_certs "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir/data/server.key" "$dir/data/server.crt"
    # Enough connections for the parallel tests' pools; a socket dir of our own; TLS offered
    # (plain connections still work) with a certificate of a throwaway CA, $dir/ca.pem.
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "$(server_options "$dir" "$port")" start >&2 ||
        { cat "$dir/server.log" >&2; exit 1; }
    echo "$port" >"$dir/port"
    "$bin/createdb" -h 127.0.0.1 -p "$port" -U micro_wasm micro_wasm_test
    log "PostgreSQL $("$bin/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port and $dir"
    echo "export MICRO_WASM_TEST_PG=postgres://micro_wasm@127.0.0.1:$port/micro_wasm_test"
    echo "export MICRO_WASM_TEST_PG_DIR=$dir"
    echo "export MICRO_WASM_TEST_PG_CA=$dir/ca.pem"
}

# The server's command-line options.
server_options() {
    echo "-k $1 -h 127.0.0.1 -p $2 -c max_connections=400 -c ssl=on"
}

# A throwaway CA (DIR/ca.pem) and a server certificate it signed for 127.0.0.1 and localhost
# (DIR/data/server.crt and .key, where PostgreSQL looks), made with the openssl command.
tls_certs() {
    local dir="$1"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3 -subj "/CN=micro-wasm test CA" \
        -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$dir/data/server.key" -out "$dir/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$dir/server.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 3 -extfile "$dir/server.ext" -out "$dir/data/server.crt" 2>/dev/null
    chmod 600 "$dir/data/server.key"
}

# Stops or starts the server of DIR again, keeping its data (outage tests).
pause_resume() {
    local what="$1" dir="${2:-}" bin port as=()
    [ -n "$dir" ] && [ -f "$dir/port" ] || { log "$what: no cluster in '${dir}'"; exit 1; }
    bin=$(find_bin)
    port=$(cat "$dir/port")
    [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
    if [ "$what" = pause ]; then
        "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2
    else
        "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "$(server_options "$dir" "$port")" start >&2
    fi
}

stop() {
    local dir="${1:-}" bin as=()
    [ -n "$dir" ] && [ -d "$dir/data" ] || { log "stop: no cluster in '${dir}'"; exit 1; }
    bin=$(find_bin)
    [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    rm -rf "$dir"
}

case "${1:-}" in
start) start ;;
stop) stop "${2:-}" ;;
pause | resume) pause_resume "$1" "${2:-}" ;;
*)
    echo "usage: bash tests/pg.sh start | stop DIR | pause DIR | resume DIR" >&2
    exit 2
    ;;
esac
