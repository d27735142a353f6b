#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL server: initdb into a temporary directory, pg_ctl start on a free
# loopback port (as the unprivileged user kennel-test when run as root: PostgreSQL refuses to run as root), the
# command with KENNEL_TEST_DATABASE_URL naming the server's `postgres` database, then the server stopped and the
# directory removed, whatever the command's outcome. The server trusts loopback connections: it lives only as
# long as the command. Tests create and drop their own databases on it.
# Usage: tools/postgres/throwaway.sh COMMAND [ARGS...]
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "throwaway.sh: PostgreSQL's server is not installed (Debian: postgresql)" >&2; exit 1; }

cluster=$(mktemp -d /tmp/kennel-postgres.XXXXXX)
as_owner=()
if [ "$(id -u)" = 0 ]; then
  id kennel-test >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin kennel-test
  chown kennel-test "$cluster"
  as_owner=(runuser -u kennel-test --)
fi
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

stop() {
  "${as_owner[@]}" "$bin/pg_ctl" -D "$cluster/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$cluster"
}
trap stop EXIT

"${as_owner[@]}" "$bin/initdb" -D "$cluster/data" -U kennel --auth=trust --no-sync -E UTF8 >"$cluster/initdb.log" 2>&1 \
  || { cat "$cluster/initdb.log" >&2; exit 1; }
"${as_owner[@]}" "$bin/pg_ctl" -D "$cluster/data" -l "$cluster/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $cluster -c fsync=off -c max_connections=200" start >/dev/null \
  || { cat "$cluster/server.log" >&2; exit 1; }

export KENNEL_TEST_DATABASE_URL="postgres://kennel@127.0.0.1:$port/postgres"
export KENNEL_TEST_POSTGRES_BIN="$bin" KENNEL_TEST_POSTGRES_DATA="$cluster/data"
echo "throwaway PostgreSQL at 127.0.0.1:$port ($cluster)" >&2
set +e
"$@"
status=$?
set -e
exit $status
