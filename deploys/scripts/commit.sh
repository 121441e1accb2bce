# commit JOURNAL_FILE VALIDATE ACTIVATE
#
# The files listed in JOURNAL_FILE were just written, each with a copy of what it replaced
# (PATH.aitbc-prev; no copy: the path did not exist). VALIDATE checks them as the service will
# read them; only then does ACTIVATE load them. When either fails, every listed path gets its
# previous content back, so the running service and the files on disk agree again, and the
# validator's own words explain the failure. VALIDATE and ACTIVATE are command lines the deploy
# code built (its values quoted there); the listed paths are only ever quoted words here.
set -u
journal=$1
validate=$2
activate=$3

if ! output=$(sh -c "$validate" 2>&1); then
  printf '%s\n' "$output" >&2
  journal_restore "$journal"
  printf '%s\n' "REJECTED by '$validate': the previous files are back; the running configuration never changed" >&2
  exit 1
fi
if ! sh -c "$activate" >&2; then
  journal_restore "$journal"
  printf '%s\n' "FAILED: '$activate'; the previous files are back" >&2
  exit 1
fi
journal_forget "$journal"
