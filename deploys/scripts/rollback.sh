# rollback ACTIVATE_BODY RESTORE_BODY PENDING JOURNAL MARKER ROOT FROM TO RECORD LINE KEEP TIMEOUT
#          PYTHON DATA [UNIT ACTION LISTENS NEW LIVE CANDIDATE PROBE]... -- [STOP_UNIT]...
#
# Puts the app at ROOT back on the kept release TO (ROOT/releases/TO), building nothing; run by
# `aitbc-infra rollback` under the deploy lock (aitbc_infra/rollback.py), one app a call.
# ACTIVATE_BODY is activate-release.sh and RESTORE_BODY restore-data.sh ("-": the data stays
# as it is), each with lib.sh (host_scripts.body): handed over once per host, not per app.
#  1. Refused (exit 2, nothing changed) unless ROOT/.venv still links to releases/FROM (what
#     the rollback read before it took the lock), TO is whole (its MARKER is there: kept, not a
#     build cut short) and no unfinished deploy left the app's journal PENDING/JOURNAL.
#  2. FROM is touched as if just activated: activate-release keeps the KEEP most recently
#     activated releases, so the release a rollback leaves is never the one pruned.
#  3. With RESTORE_BODY: every STOP_UNIT of the app (services, sockets, timers) is stopped (an
#     outage until the gate passes), and restore-data puts back the data snapshot kept with TO
#     (it prints what writes it drops). When it fails (3: no snapshot kept with TO), the units
#     start again on FROM, nothing else changed, and the rollback fails (exit 1).
#  4. activate-release for TO with the UNIT specs, PYTHON and the app's DATA (its own header
#     says them; no journal to validate) and no release step: a rollback builds and migrates
#     nothing (over a migration, --restore-data puts the data of before it back). Candidate,
#     cutover (the data snapshotted into FROM first; not after a restore, which would only
#     copy the snapshot it put back), health gate and data probes; a failed gate puts FROM
#     back (exit 1).
#     With RESTORE_BODY the units stopped are started again afterwards (the timers too).
#  5. Passed: the rollback record RECORD gets LINE, or ("-": TO is the data's release again)
#     goes. Failed: the record stays as it was, true again of FROM.
set -u
set -f
[ $# -ge 15 ] || { echo "rollback: refused: too few arguments ($#)" >&2; exit 2; }
activate=$1 restore=$2 pending=$3 journal=$4 marker=$5 root=$6 from=$7 to=$8 record=$9
shift 9
line=$1 keep=$2 timeout=$3 python=$4 data=$5
shift 5

refuse() { printf 'rollback: refused %s: %s\n' "$1" "$2" >&2; exit 2; }
case $pending in /*) ;; *) refuse "pending directory (not absolute)" "$pending" ;; esac
case $root in /*) ;; *) refuse "app root (not absolute)" "$root" ;; esac
case $record in /*) ;; *) refuse "rollback record (not absolute)" "$record" ;; esac
for name in "$journal" "$marker" "$from" "$to"; do
  case $name in ''|.|..|*[!A-Za-z0-9._-]*) refuse "name" "$name" ;; esac
done
[ "$from" != "$to" ] || refuse "release to go back to (it is the live one)" "$to"
case $line in
  -) ;;
  *'
'*) refuse "record line (more than one line)" "$line" ;;
  "{"*"}") ;;
  *) refuse "record line (not a JSON object)" "$line" ;;
esac
units=""
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  units="$units $1"
  shift
done
[ $# -gt 0 ] || refuse "unit arguments (no -- before the units to stop)" "$units"
shift
stop=""
for unit in "$@"; do
  case $unit in ''|*[!A-Za-z0-9:_.@-]*) refuse "unit name" "$unit" ;; esac
  stop="$stop $unit"
done

# 1. Still as read, and TO whole ------------------------------------------------------------
live=$(readlink -- "$root/$venv_link" 2>/dev/null || true)
[ "$live" = "$releases_dir/$from" ] || refuse "rollback of $root: changed since it was read" \
  "$venv_link links to '$live' now, not $releases_dir/$from (a deploy ran meanwhile?)"
[ -f "$root/$releases_dir/$to/$marker" ] || refuse "rollback of $root" \
  "release $to is no longer kept whole (no $releases_dir/$to/$marker)"
[ ! -e "$pending/$journal" ] || refuse "rollback of $root" \
  "an unfinished deploy left its unit and env files pending ($pending/$journal): deploy first"

# 2. The release left stays kept ---------------------------------------------------------------
touch -h -- "$root/$releases_dir/$from"

# 3. The data, with the app stopped -------------------------------------------------------------
if [ "$restore" != - ]; then
  echo "stopping$stop to restore the data kept with release $to (the app is down until its gate passes)"
  systemctl stop $stop
  if ! run_inline "$restore" restore-data "$root" "$to"; then
    echo "NOT RESTORED: the data of $root is as it was; starting$stop again on release $from" >&2
    systemctl start $stop
    exit 1
  fi
fi

# 4. Candidate, cutover, gate ---------------------------------------------------------------------
# shellcheck disable=SC2086  # the unit specs, checked by activate-release, split on purpose
[ "$restore" = - ] || data=""
no_steps=""
run_inline "$activate" activate-release "$pending" "$root" "$to" "$keep" "$timeout" "$journal" \
  true "$python" "$data" "$no_steps" $units
status=$?
if [ "$restore" != - ]; then
  systemctl start $stop || status=1
fi
[ "$status" -eq 0 ] || exit 1

# 5. What the app runs now, for status and the next deploy --------------------------------------
if [ "$line" = - ]; then
  rm -f -- "$record"
  echo "$root is on the data's release $to again: its rollback record is removed"
else
  printf '%s\n' "$line" > "$record$temp_suffix" && mv -f -- "$record$temp_suffix" "$record"
fi
