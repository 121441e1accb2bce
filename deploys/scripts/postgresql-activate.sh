# postgresql-activate SERVICE CLUSTER_UNIT DATA SOCKETS ADDRESS PORT
#
# Loads the cluster's checked configuration: a reload, and a restart only when what the server
# reads at its start alone (listen_addresses, port) differs from ADDRESS and PORT; a cluster
# that does not run is started. SERVICE (postgresql, which starts every cluster at boot) is
# enabled. Done when the cluster answers on PORT (60 s at most).
set -eu
service=$1 unit=$2 data=$3 sockets=$4 address=$5 port=$6
case $port in ''|*[!0-9]*) printf 'refused port: %s\n' "$port" >&2; exit 2 ;; esac
systemctl enable --quiet -- "$service"
if running=$(pg_running_port "$data") && systemctl is-active --quiet -- "$unit"; then
  systemctl reload -- "$unit"
  listening=$(pg_psql "$sockets" "$running" \
    -c "SELECT current_setting('listen_addresses') || ' ' || current_setting('port')")
  if [ "$listening" != "$address $port" ]; then
    echo "postgresql: listens on $listening, planned $address $port: restart" >&2
    systemctl restart -- "$unit"
  fi
else
  systemctl restart -- "$unit"
fi
tries=0
until pg_psql "$sockets" "$port" -c 'SELECT 1' >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 120 ]; then
    echo "postgresql: $unit does not answer on port $port" >&2
    exit 1
  fi
  sleep 0.5
done
