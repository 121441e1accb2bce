# postgresql-validate PROGRAMS CONFIG DATA SOCKETS
#
# The cluster's configuration as written, checked by PostgreSQL itself before it is loaded:
# its settings files (postgresql.conf and its conf.d), syntax and values, as the server reads
# them at a start (`postgres -C`, which runs beside a running server), and, when the cluster
# runs, every pg_hba.conf line as it reads it now from disk (pg_hba_file_rules). A stopped
# cluster checks pg_hba.conf at its start. (Not pg_file_settings: it reports a setting read at
# a start alone, such as a new listen_addresses, as "could not be applied" until the restart
# the activation makes.)
set -u
programs=$1 config=$2 data=$3 sockets=$4
if ! runuser -u postgres -- "$programs/postgres" -D "$data" -c "config_file=$config/postgresql.conf" \
    -C listen_addresses >/dev/null; then
  echo "postgres refuses the configuration in $config" >&2
  exit 1
fi
port=$(pg_running_port "$data") || exit 0
errors=$(pg_psql "$sockets" "$port" -F ': ' -c \
  "SELECT 'pg_hba.conf:' || line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL") \
  || exit 1
if [ -n "$errors" ]; then
  printf '%s\n' "$errors" >&2
  exit 1
fi
