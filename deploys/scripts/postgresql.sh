# postgresql ACTION ARG...
#
# The host's PostgreSQL cluster, reached as its superuser over its socket as root runs it
# (pg_hba.conf: `local all postgres peer`). One action a run:
#   state DATA SOCKETS ROLE... -- DATABASE...
#       The roles and databases the plan names, as they are: `running`, then for each role that
#       exists `R NAME LOGIN SUPERUSER CREATEDB CREATEROLE REPLICATION BYPASSRLS ITERATIONS SALT
#       DIGEST` (t/f each; of a SCRAM verifier its iterations, salt and SHA-256 digest, `-` for a
#       password of another kind or none: never the verifier), for each database that exists
#       `D NAME OWNER`. Nothing at all when the cluster does not answer (not installed, stopped).
#   validate PROGRAMS CONFIG DATA SOCKETS
#       The configuration as written, checked by PostgreSQL itself before it is loaded: the
#       settings files (postgresql.conf and its conf.d), syntax and values, as the server reads
#       them at a start (`postgres -C`, which runs beside a running server), and, when the
#       cluster runs, every pg_hba.conf line as it reads it now from disk (pg_hba_file_rules). A
#       stopped cluster checks pg_hba.conf at its start. (Not pg_file_settings: it reports a
#       setting read at a start alone, such as a new listen_addresses, as "could not be
#       applied" until the restart the activation makes.)
#   activate SERVICE CLUSTER_UNIT DATA SOCKETS ADDRESS PORT
#       Loads the checked configuration: a reload, and a restart only when what the server
#       reads at its start alone (listen_addresses, port) differs from ADDRESS and PORT; a
#       cluster that does not run is started. SERVICE (postgresql, which starts every cluster at
#       boot) is enabled. Done when the cluster answers on PORT (60 s at most).
#   roles DATA SOCKETS VERIFIERS [role NAME PASSWORD | database NAME OWNER]...
#       Makes the roles and databases the deploy owes (aitbc_infra/decision.py), in the order
#       given, in one psql session: a role is created when missing and set to log in with no
#       other attribute; PASSWORD=yes sets its password to the SCRAM verifier of its line
#       `NAME VERIFIER` in the file VERIFIERS (root's, 0600, written by the deploy and removed
#       here whatever happens: a verifier never appears in a command line, and the password
#       itself never leaves the deploy's machine). A database is created owned by OWNER when
#       missing, else given to OWNER. Every name is checked first; each reaches SQL quoted by
#       psql (:"name").
set -u

refuse() {  # WHAT VALUE: a bad argument, named; nothing was done
  printf 'postgresql: refused %s: %s\n' "$1" "$2" >&2
  exit 2
}

pg_running_port() {  # DATA: the port the running cluster listens on (postmaster.pid), or nothing
  port=$(sed -n 4p -- "$1/postmaster.pid" 2>/dev/null)
  case $port in ''|*[!0-9]*) return 1 ;; esac
  printf '%s' "$port"
}

pg_psql() {  # SOCKETS PORT [PSQL ARGUMENTS]: psql as postgres, unaligned, stopping at an error
  sockets=$1 port=$2
  shift 2
  runuser -u postgres -- env PGCONNECT_TIMEOUT=5 psql -X -q -A -t -v ON_ERROR_STOP=1 \
    -h "$sockets" -p "$port" -d postgres "$@"
}

pg_name() {  # NAME: a role or database name of the model (a-z0-9_), or refused
  case $1 in ''|[!a-z_]*|*[!a-z0-9_]*) refuse "PostgreSQL name" "$1" ;; esac
}

state() {
  data=$1 sockets=$2
  shift 2
  roles=""
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    pg_name "$1"
    roles="$roles $1"
    shift
  done
  [ $# -gt 0 ] && shift
  for database in "$@"; do pg_name "$database"; done
  port=$(pg_running_port "$data") || exit 0
  found=$(pg_psql "$sockets" "$port" -F ' ' -v roles="$roles" -v databases="$*" <<'SQL'
SELECT 'R', rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication,
       rolbypassrls,
       CASE WHEN rolpassword LIKE 'SCRAM-SHA-256$%'
            THEN split_part(split_part(rolpassword, '$', 2), ':', 1) ELSE '-' END,
       CASE WHEN rolpassword LIKE 'SCRAM-SHA-256$%'
            THEN split_part(split_part(rolpassword, '$', 2), ':', 2) ELSE '-' END,
       CASE WHEN rolpassword LIKE 'SCRAM-SHA-256$%'
            THEN encode(sha256(convert_to(rolpassword, 'UTF8')), 'hex') ELSE '-' END
  FROM pg_authid WHERE rolname = ANY (string_to_array(trim(:'roles'), ' '));
SELECT 'D', datname, pg_get_userbyid(datdba)
  FROM pg_database WHERE datname = ANY (string_to_array(trim(:'databases'), ' '));
SQL
  ) || exit 0
  echo running
  printf '%s\n' "$found"
}

validate() {
  programs=$1 config=$2 data=$3 sockets=$4
  if ! runuser -u postgres -- "$programs/postgres" -D "$data" \
      -c "config_file=$config/postgresql.conf" -C listen_addresses >/dev/null; then
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
}

activate() {
  set -e
  service=$1 unit=$2 data=$3 sockets=$4 address=$5 port=$6
  case $port in ''|*[!0-9]*) refuse port "$port" ;; esac
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
}

verifier_of() {  # VERIFIERS NAME: NAME's verifier, checked to be one (base64 fields only)
  while read -r name verifier; do
    [ "$name" = "$2" ] || continue
    case $verifier in SCRAM-SHA-256\$*:*\$*:*) ;; *) refuse "verifier of role" "$2" ;; esac
    case ${verifier#SCRAM-SHA-256\$} in *[!A-Za-z0-9+/=:\$]*) refuse "verifier of role" "$2" ;; esac
    printf '%s' "$verifier"
    return 0
  done < "$1"
  refuse "role without a verifier" "$2"
}

roles() {
  set -e
  data=$1 sockets=$2 verifiers=$3
  shift 3
  trap 'rm -f -- "$verifiers"' EXIT
  sql=""
  while [ $# -gt 0 ]; do
    [ $# -ge 3 ] || refuse "incomplete arguments" "$*"
    case $1 in
      role)
        pg_name "$2"
        case $3 in yes|no) ;; *) refuse "password flag of $2" "$3" ;; esac
        sql="$sql
\\set role '$2'
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') AS missing \\gset
\\if :missing
CREATE ROLE :\"role\";
\\endif
ALTER ROLE :\"role\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;"
        if [ "$3" = yes ]; then
          verifier=$(verifier_of "$verifiers" "$2") || exit 2
          sql="$sql
\\set verifier '$verifier'
ALTER ROLE :\"role\" PASSWORD :'verifier';
\\unset verifier"
        fi ;;
      database)
        pg_name "$2"
        pg_name "$3"
        sql="$sql
\\set database '$2'
\\set owner '$3'
SELECT NOT EXISTS (SELECT FROM pg_database WHERE datname = :'database') AS missing \\gset
\\if :missing
CREATE DATABASE :\"database\" OWNER :\"owner\";
\\else
ALTER DATABASE :\"database\" OWNER TO :\"owner\";
\\endif" ;;
      *) refuse action "$1" ;;
    esac
    shift 3
  done
  port=$(pg_running_port "$data") || { echo "postgresql: the cluster in $data does not run" >&2; exit 1; }
  printf '%s\n' "$sql" | pg_psql "$sockets" "$port" -f -
}

[ $# -gt 0 ] || refuse action "(none)"
action=$1
shift
case $action in
  state) state "$@" ;;
  validate) [ $# -eq 4 ] || refuse "validate arguments" "$*"; validate "$@" ;;
  activate) [ $# -eq 6 ] || refuse "activate arguments" "$*"; activate "$@" ;;
  roles) [ $# -ge 3 ] || refuse "roles arguments" "$*"; roles "$@" ;;
  *) refuse action "$action" ;;
esac
