#!/usr/bin/env bash
# Run a command against a throw-away PostgreSQL server started here and now.
#
#   scripts/with-postgres.sh <command> [args...]
#
# initdb + pg_ctl from Debian's postgresql package (scripts/install-system-deps.sh
# installs it), a data directory under a fresh temporary folder, a free port on
# 127.0.0.1, trust auth for the local test role. As root (CI) the server runs as
# the 'postgres' account, since PostgreSQL refuses to run as root. The server is
# stopped and its files removed when the command ends, whatever its outcome.
set -euo pipefail

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "ERROR: PostgreSQL server binaries not found (install Debian's postgresql: scripts/install-system-deps.sh)" >&2
  exit 1
fi

tmp=$(mktemp -d /tmp/tethys-pg.XXXXXX)
chmod 755 "$tmp"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  chown postgres "$tmp"
  as_pg=(runuser -u postgres --)
fi

cleanup() {
  "${as_pg[@]}" "$bindir/pg_ctl" -D "$tmp/data" -m immediate -w -t 20 stop >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

"${as_pg[@]}" "$bindir/initdb" -D "$tmp/data" -U postgres -A trust -E UTF8 --no-sync >"$tmp/initdb.log" 2>&1 \
  || { cat "$tmp/initdb.log" >&2; exit 1; }
"${as_pg[@]}" "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -t 30 \
  -o "-p $port -k $tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  start >/dev/null || { cat "$tmp/server.log" >&2; exit 1; }

export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres PGPASSWORD="" PGDATABASE=tethys_compute
"$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres tethys_compute
echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
set +e
"$@"
status=$?
exit $status
