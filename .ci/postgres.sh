#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests (the store's Postgres path).
#
#   eval "$(bash .ci/postgres.sh start)"   # prints the export lines: TUNEBENCH_TEST_PG_URL, TUNEBENCH_TEST_PG_DIR
#   bash .ci/postgres.sh stop [DIR]        # stops it and removes its folder (DIR default: $TUNEBENCH_TEST_PG_DIR)
#
# start: initdb into a new temp folder (trust auth, fsync off: nothing here must survive), pg_ctl start on
# 127.0.0.1 at a free port with the socket in that folder, create a database, print the exports. initdb
# refuses to run as root, so as root the server runs as an unprivileged user created here (tunebench-pg).
# Missing initdb/pg_ctl: look under /usr/lib/postgresql/*/bin, else install Debian's `postgresql` package.
# Progress goes to stderr; stdout carries only the export lines.
set -Eeuo pipefail  # -E: the ERR trap of start() also fires inside the helpers it calls

PG_USER_NAME=${TUNEBENCH_PG_OS_USER:-tunebench-pg}
DB_NAME=${TUNEBENCH_PG_DB:-tunebench_test}

say() { echo "postgres.sh: $*" >&2; }

find_bin() {
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    PG_BIN=$(dirname "$(readlink -f "$(command -v pg_ctl)")")
    return 0
  fi
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
      PG_BIN=$d
      return 0
    fi
  done
  return 1
}

install_postgres() {
  say "initdb/pg_ctl not found: installing Debian's postgresql package"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >&2
}

# run a command as the server's OS user (root: the unprivileged user; anyone else: themselves)
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$PG_USER_NAME" -- "$@"
  else
    "$@"
  fi
}

free_port() {
  local py
  py=$(command -v python3 || command -v python)
  "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
  find_bin || { install_postgres && find_bin; } || { say "no initdb/pg_ctl even after installing postgresql"; exit 1; }
  local user
  if [ "$(id -u)" = 0 ]; then
    if ! id "$PG_USER_NAME" >/dev/null 2>&1; then
      say "creating the unprivileged user $PG_USER_NAME (initdb refuses root)"
      useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER_NAME"
    fi
    user=$PG_USER_NAME
  else
    user=$(id -un)
  fi
  local dir port
  dir=$(mktemp -d "${TMPDIR:-/tmp}/tunebench-pg.XXXXXX")
  # a start that fails half-way leaves no server and no folder behind (the caller never got the DIR)
  trap 'stop "$dir"' ERR
  chmod 755 "$dir"
  [ "$(id -u)" = 0 ] && chown "$user" "$dir"
  as_pg "$PG_BIN/initdb" -D "$dir/data" -U "$user" --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; stop "$dir"; exit 1; }
  port=$(free_port)
  as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >&2 || { cat "$dir/server.log" >&2; stop "$dir"; exit 1; }
  as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U "$user" "$DB_NAME"
  trap - ERR
  say "PostgreSQL $("$PG_BIN/pg_ctl" --version | awk '{print $3}') started on 127.0.0.1:$port (data and socket in $dir)"
  echo "export TUNEBENCH_TEST_PG_URL=postgresql+psycopg://$user@127.0.0.1:$port/$DB_NAME"
  echo "export TUNEBENCH_TEST_PG_DIR=$dir"
}

stop() {
  local dir=${1:-${TUNEBENCH_TEST_PG_DIR:-}}
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    say "nothing to stop (no server folder)"
    return 0
  fi
  find_bin || true
  if [ -f "$dir/data/postmaster.pid" ] && [ -n "${PG_BIN:-}" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || say "pg_ctl stop failed"
  fi
  rm -rf "$dir"
  say "PostgreSQL stopped; removed $dir"
}

case "${1:-}" in
  start) start ;;
  stop) shift; stop "$@" ;;
  *) echo "usage: $0 start | stop [DIR]" >&2; exit 2 ;;
esac
