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
  chmod 755 "$cluster"
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
# The settings live in the cluster's configuration, so a test can stop and start the server as it is.
cat >>"$cluster/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$cluster'
fsync = off
max_connections = 200
CONF
# KENNEL_TEST_POSTGRES_CTL stop|start|…: pg_ctl on this cluster, as its owner (a test restarting the server). Its
# output goes to the server's log: a server started from a test must not hold the test's pipes open.
cat >"$cluster/pg_ctl" <<CTL
#!/bin/sh
exec ${as_owner[*]} "$bin/pg_ctl" -D "$cluster/data" -l "$cluster/server.log" -w -t 60 "\$@" </dev/null >/dev/null 2>&1
CTL
chmod +x "$cluster/pg_ctl"
"$cluster/pg_ctl" start >/dev/null || { cat "$cluster/server.log" >&2; exit 1; }

export KENNEL_TEST_DATABASE_URL="postgres://kennel@127.0.0.1:$port/postgres"
export KENNEL_TEST_POSTGRES_CTL="$cluster/pg_ctl"
echo "throwaway PostgreSQL at 127.0.0.1:$port ($cluster)" >&2
set +e
"$@"
status=$?
set -e
exit $status
