#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers for the tests and prints the URL
# of a database the tests may create databases from (each test makes and
# drops its own). Order: FRAMEWISE_TEST_POSTGRES_URL if set; the machine's
# server on 127.0.0.1:5432 (started if it is installed but down); else
# Debian's postgresql, installed, started and given a test database.
set -euo pipefail
url="${FRAMEWISE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
answers() { psql "$url" -qtAc 'SELECT 1' >/dev/null 2>&1; }
if command -v psql >/dev/null 2>&1 && answers; then echo "$url"; exit 0; fi

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  echo "postgres: installing Debian's postgresql" >&2
  . "$(cd "$(dirname "$0")" && pwd)/apt.sh"
  apt_get update -qq
  apt_get install -y -qq postgresql >&2
fi
version=$(ls /etc/postgresql | sort -V | tail -1)
echo "postgres: starting cluster $version/main" >&2
$SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 2>&1 || true
for _ in $(seq 1 60); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 0.5
done
if ! answers; then
  # A fresh install: the postgres role has no password and local TCP
  # logins need one; give it one and make the test database.
  $SUDO -u postgres psql -qc "ALTER USER postgres PASSWORD 'postgres'" >&2 2>&1 ||
    su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >&2
  url="postgres://postgres:postgres@127.0.0.1:5432/test?sslmode=disable"
  psql "postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable" -qc 'CREATE DATABASE test' >&2 2>&1 || true
fi
answers || { echo "postgres: no server answers at ${url%%\?*}" >&2; exit 1; }
echo "$url"
