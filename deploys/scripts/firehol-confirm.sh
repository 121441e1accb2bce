# firehol-confirm probe|disarm SWITCH_DIR REVERT_UNIT CONF
#
# Run by the deploy after firehol-activate, each time over a new SSH connection
# (aitbc_infra/firewall_confirm.py): that it runs at all shows the rules live when the
# connection was made let the deploy in. SWITCH_DIR's layout is lib.sh's. Prints one answer:
#   pending          the new rules are not live yet (or the switch is busy): ask again
#   applied          (probe) they are live: a connection made from now on is one they let in
#   confirmed DIGEST (disarm) they stay: the revert timer stopped, what it kept and the record
#                    of an earlier revert forgotten; DIGEST is CONF's
#   failed           firehol did not start them: the previous rules and files are back; firehol's
#                    words follow, one a line (shown once)
#   reverted TIME    the revert came first, at TIME: the previous rules are back
#   unarmed          no switch armed, none recorded
# Never waits for the lock: a connection made before the rules went live must not live on to
# answer for them.
set -u
action=$1 switch=$2 unit=$3 conf=$4

refuse() { printf 'firehol-confirm: refused %s: %s\n' "$1" "$2" >&2; exit 2; }
case $action in probe|disarm) ;; *) refuse "action (not probe or disarm)" "$action" ;; esac
for path in "$switch" "$conf"; do
  case $path in /*) ;; *) refuse "path (not absolute)" "$path" ;; esac
done
case $unit in ''|-*|*[!A-Za-z0-9_.-]*) refuse "revert unit name" "$unit" ;; esac

[ -d "$switch" ] || { echo unarmed; exit 0; }  # never armed on this host
switch_lock "$switch" now || { echo pending; exit 0; }
stash=$(switch_stash "$switch")
record=$(switch_record "$switch")
failure=$(switch_failure "$switch")
if [ -d "$stash" ]; then
  if [ ! -f "$stash/live" ]; then
    echo pending
  elif [ "$action" = probe ]; then
    echo applied
  else
    # The timer first: should it fire meanwhile, its revert waits for the lock, then finds nothing.
    systemctl stop -- "$unit.timer" "$unit.service" 2>/dev/null
    rm -rf -- "$stash" "$record" || exit 1
    printf 'confirmed\t%s\n' "$(sha256sum < "$conf" | cut -d' ' -f1)"
  fi
elif [ -f "$failure" ]; then
  echo failed
  cat -- "$failure"
  rm -f -- "$failure"
elif [ -f "$record" ]; then
  printf 'reverted\t%s\n' "$(cat -- "$record")"
else
  echo unarmed
fi
