#!/bin/sh
# PostgreSQL stand-in for docker.io/library/postgres where no registry is reachable
# (scripts/container-check builds it with mmdebstrap): the official image's interface —
# POSTGRES_USER (default postgres), POSTGRES_PASSWORD (required), POSTGRES_DB (default the user),
# PGDATA — a first-start initialisation on an empty data folder, then the server on every address
# with password (scram-sha-256) authentication over TCP.
set -eu
PGDATA=${PGDATA:-/var/lib/postgresql/data}
BIN=/usr/lib/postgresql/15/bin
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 0700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
USER_NAME=${POSTGRES_USER:-postgres}
DB=${POSTGRES_DB:-$USER_NAME}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pw=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pw"
  "$BIN/initdb" -D "$PGDATA" -U "$USER_NAME" --pwfile="$pw" --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pw"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$DB" != postgres ]; then
    "$BIN/pg_ctl" -D "$PGDATA" -o "-c listen_addresses= -c unix_socket_directories=/tmp" -w start >/dev/null
    "$BIN/psql" -h /tmp -U "$USER_NAME" -d postgres -v ON_ERROR_STOP=1 -q \
      -c "CREATE DATABASE \"$DB\" OWNER \"$USER_NAME\""
    "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
  fi
  echo "postgres-entrypoint: initialised $PGDATA (database $DB, user $USER_NAME)"
fi
exec "$BIN/postgres" -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql
