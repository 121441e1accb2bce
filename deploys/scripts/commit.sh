# commit JOURNAL_FILE VALIDATE VALIDATE_NAME ACTIVATE ACTIVATE_NAME
#
# The files listed in JOURNAL_FILE were just written, each with a copy of what it replaced
# (see lib.sh). VALIDATE checks them as the service will read them; only then does ACTIVATE
# load them (the *_NAME arguments say what each is, in messages). When either fails, every listed path gets its
# previous content back, so the running service and the files on disk agree again, and the
# validator's own words explain the failure. VALIDATE and ACTIVATE are command lines the deploy
# code built (its values quoted there); the listed paths are only ever quoted words here.
set -u
journal=$1 validate=$2 validate_name=$3 activate=$4 activate_name=$5

if ! output=$(sh -c "$validate" 2>&1); then
  printf '%s\n' "$output" >&2
  journal_restore "$journal"
  printf '%s\n' "REJECTED by '$validate_name': the previous files are back; the running configuration never changed" >&2
  exit 1
fi
if ! sh -c "$activate" >&2; then
  journal_restore "$journal"
  printf '%s\n' "FAILED: '$activate_name'; the previous files are back" >&2
  exit 1
fi
journal_forget "$journal"
