# postgresql-state DATA SOCKETS ROLE... -- DATABASE...
#
# The cluster's roles and databases the plan names, as they are: `running`, then for each role
# that exists `R NAME LOGIN SUPERUSER CREATEDB CREATEROLE REPLICATION BYPASSRLS ITERATIONS SALT
# DIGEST` (t/f each; of a SCRAM verifier its iterations, salt and SHA-256 digest, `-` for a
# password of another kind or none: never the verifier), for each database that exists
# `D NAME OWNER`. Nothing at all when the cluster does not answer (not installed, stopped).
set -u
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
