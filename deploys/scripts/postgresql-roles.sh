# postgresql-roles DATA SOCKETS VERIFIERS [role NAME PASSWORD | database NAME OWNER]...
#
# Makes the roles and databases the deploy owes (aitbc_infra/decision.py), in the order given,
# each in one psql session run as the cluster's superuser: a role is created when missing and
# set to log in with no other attribute; PASSWORD=yes sets its password to the SCRAM verifier
# of its line `NAME VERIFIER` in the file VERIFIERS (root's, 0600, written by the deploy and
# removed here whatever happens: a verifier never appears in a command line, and the password
# itself never leaves the deploy's machine). A database is created owned by OWNER when missing,
# else given to OWNER. Every name is checked first; each reaches SQL quoted by psql (:"name").
set -eu
data=$1 sockets=$2 verifiers=$3
shift 3
trap 'rm -f -- "$verifiers"' EXIT
verifier_of() {  # NAME: its verifier from VERIFIERS, checked to be one (base64 fields only)
  while read -r name verifier; do
    [ "$name" = "$1" ] || continue
    case $verifier in
      SCRAM-SHA-256\$*:*\$*:*) ;;
      *) echo "postgresql-roles: not a SCRAM verifier for role $1" >&2; exit 2 ;;
    esac
    case ${verifier#SCRAM-SHA-256\$} in *[!A-Za-z0-9+/=:\$]*)
      echo "postgresql-roles: not a SCRAM verifier for role $1" >&2; exit 2 ;;
    esac
    printf '%s' "$verifier"
    return 0
  done < "$verifiers"
  echo "postgresql-roles: no verifier for role $1" >&2
  exit 2
}
sql=""
while [ $# -gt 0 ]; do
  [ $# -ge 3 ] || { echo "postgresql-roles: incomplete arguments: $*" >&2; exit 2; }
  case $1 in
    role)
      pg_name "$2"
      case $3 in yes|no) ;; *) echo "postgresql-roles: refused password flag: $3" >&2; exit 2 ;; esac
      sql="$sql
\\set role '$2'
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') AS missing \\gset
\\if :missing
CREATE ROLE :\"role\";
\\endif
ALTER ROLE :\"role\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;"
      if [ "$3" = yes ]; then
        verifier=$(verifier_of "$2") || exit 2
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
    *) echo "postgresql-roles: refused action: $1" >&2; exit 2 ;;
  esac
  shift 3
done
port=$(pg_running_port "$data") || { echo "postgresql-roles: the cluster in $data does not run" >&2; exit 1; }
printf '%s\n' "$sql" | pg_psql "$sockets" "$port" -f -
