#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests and the benchmark.
#
#   scripts/pg_cluster.sh up [--fast]   start one; prints PG_URL=... and PG_DIR=... (the URL
#                                       carries a random password; auth is scram-sha-256 on
#                                       127.0.0.1, so wrong credentials really are refused)
#   scripts/pg_cluster.sh down DIR      stop it and delete everything under DIR
#
# Installs Debian's postgresql package when no initdb is found (apt-get; needs root or sudo -n).
# The server runs as an unprivileged user (postgres when it exists, else nobody: initdb refuses
# to run as root), from a fresh temporary directory, listening on 127.0.0.1 on a free port and
# on a Unix socket inside that directory only. --fast turns fsync off (tests only: the data is
# thrown away; the benchmark runs without it).
set -euo pipefail

die() { echo "pg_cluster: $*" >&2; exit 1; }

find_bindir() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$d/initdb" ] && { echo "$d"; return 0; }
    done
    if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return 0; fi
    return 1
}

install_postgres() {
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo -n"
    echo "pg_cluster: initdb not found; installing postgresql with apt-get" >&2
    $sudo apt-get update -qq >&2 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >&2 \
        || die "apt-get install postgresql failed"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

cmd_up() {
    local fast=0
    [ "${1:-}" = "--fast" ] && fast=1
    local bindir
    bindir=$(find_bindir) || { install_postgres; bindir=$(find_bindir) || die "no initdb after installing"; }

    local runas="" user=""
    if [ "$(id -u)" = 0 ]; then
        if id postgres >/dev/null 2>&1; then user=postgres; else user=nobody; fi
        runas="runuser -u $user --"
    fi

    local dir port password
    dir=$(mktemp -d "${TMPDIR:-/tmp}/ca_pg.XXXXXX")
    chmod 755 "$dir"
    mkdir -p "$dir/sock"
    password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
    printf '%s\n' "$password" > "$dir/pwfile"
    [ -n "$user" ] && chown -R "$user" "$dir"
    chmod 600 "$dir/pwfile"

    $runas "$bindir/initdb" -D "$dir/data" -U crypto --pwfile="$dir/pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; rm -rf "$dir"; die "initdb failed"; }
    rm -f "$dir/pwfile"

    local extra=""
    [ "$fast" = 1 ] && extra="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    local started=0
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        if $runas "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-p $port -c listen_addresses=127.0.0.1 -k $dir/sock -c max_connections=200 $extra" \
            start >/dev/null 2>&1; then
            started=1
            break
        fi
    done
    [ "$started" = 1 ] || { cat "$dir/server.log" >&2 || true; rm -rf "$dir"; die "the server did not start"; }

    $runas "$bindir/psql" -h "$dir/sock" -p "$port" -U crypto -d postgres -qAt \
        -c "CREATE DATABASE registry" >/dev/null \
        || { cmd_down "$dir"; die "could not create the database"; }

    echo "$port" > "$dir/port"
    echo "$bindir" > "$dir/bindir"
    echo "$user" > "$dir/user"
    local url="postgresql://crypto:${password}@127.0.0.1:${port}/registry"
    # The URL file is readable by the caller only.
    ( umask 077; echo "$url" > "$dir/url" )
    echo "PG_URL=$url"
    echo "PG_DIR=$dir"
}

cmd_down() {
    local dir="${1:-}"
    [ -n "$dir" ] && [ -d "$dir" ] || die "down needs the directory printed by up"
    [ -f "$dir/bindir" ] || [ -d "$dir/data" ] || die "$dir is not a cluster made by this script"
    local bindir user runas=""
    bindir=$(cat "$dir/bindir" 2>/dev/null || find_bindir)
    user=$(cat "$dir/user" 2>/dev/null || true)
    [ "$(id -u)" = 0 ] && [ -n "$user" ] && runas="runuser -u $user --"
    if [ -f "$dir/data/postmaster.pid" ]; then
        $runas "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

case "${1:-}" in
    up) shift; cmd_up "$@" ;;
    down) shift; cmd_down "$@" ;;
    *) echo "usage: $0 up [--fast] | down DIR" >&2; exit 2 ;;
esac
