#!/bin/sh
# Runs example_env_config with the seed's variables set from the test servers'
# URLs (scripts/servers): postgresql on the primary, analytics on a PostgreSQL
# shard instance, users_db and orders_db on MariaDB. Exits 77 without servers.
[ -n "$PLEXUS_TEST_PG_URL" ] && [ -n "$PLEXUS_TEST_MYSQL_URL" ] || { echo "needs the servers" >&2; exit 77; }
part() {  # part URL user|password|host|port|database
  echo "$1" | sed -E 's#^[a-z]+://([^:]*):([^@]*)@([^:/]*):([0-9]+)/([^?]*).*#\1 \2 \3 \4 \5#' | cut -d' ' -f"$2"
}
set_vars() {  # set_vars PREFIX URL
  export "${1}HOST=$(part "$2" 3)" "${1}PORT=$(part "$2" 4)" "${1}DATABASE=$(part "$2" 5)" \
         "${1}USERNAME=$(part "$2" 1)" "${1}PASSWORD=$(part "$2" 2)"
}
export DB_CONNECTION=postgresql DB_SSL=false
set_vars DB_ "$PLEXUS_TEST_PG_URL"
set_vars DB_ANALYTICS_ "$PLEXUS_TEST_PG_SHARD1_URL"
set_vars DB_USERS_ "$PLEXUS_TEST_MYSQL_URL"
set_vars DB_ORDERS_ "$PLEXUS_TEST_MYSQL_URL"
exec "$@"
