# firehol-switch apply|revert SWITCH_DIR APPLIED_DIGEST_FILE
#
# Run by the timers firehol-activate arms, as a file of its own on the host (host_names:
# FIREHOL_SWITCH), without the deploy's session; what it prints goes to the journal of the
# timer's unit. SWITCH_DIR's layout is lib.sh's. Nothing armed (the deploy confirmed, or the
# switch was put back already): nothing to do.
#   apply   loads the rules through firehol.service, never by running `firehol start` beside
#           it: an active unit is reloaded (its ExecReload is `firehol start`), so a failed
#           start keeps the unit active with the rules firehol put back, where a restart would
#           first run `firehol stop` and leave the host open; an inactive or failed unit (the
#           package's own start fails at install, before /etc/default/firehol enables it) is
#           started, which clears the failure. Then records the digest of the rules now live
#           (drift is measured against it), enables the unit for the next boot, and marks them
#           live. A failed start: everything kept is put back (below), and firehol's own words
#           since the attempt are kept for the deploy to show.
#   revert  the deploy did not confirm the new rules in time: everything kept is put back, and
#           the time recorded.
# Putting back: the live rules of before (each table they held loaded as it was; a table they
# lacked emptied, its chains' policies ACCEPT, as a host that never had it; should they not
# load, firehol loads the previous files instead), the files the new rules came with (so
# firehol.service and the next boot load what is live), and the digest recorded for the rules
# (drift is measured as before).
set -u
action=$1 switch=$2 applied=$3

refuse() { printf 'firehol-switch: refused %s: %s\n' "$1" "$2" >&2; exit 2; }
case $action in apply|revert) ;; *) refuse "action (not apply or revert)" "$action" ;; esac
for path in "$switch" "$applied"; do
  case $path in /*) ;; *) refuse "path (not absolute)" "$path" ;; esac
done

restore_rules() {  # IPTABLES DUMP: the rules of DUMP live again, in every table, through the
  # backend IPTABLES (iptables, ip6tables, or their -legacy twins) that saved them
  [ -f "$2" ] || return 0
  for table in $("$1-save" 2>/dev/null | sed -n 's/^\*//p'); do
    ! grep -qxF -- "*$table" "$2" || continue
    "$1" -t "$table" -F && "$1" -t "$table" -X || return 1
    for chain in $("$1" -t "$table" -S | sed -n 's/^-P \([^ ]*\) .*/\1/p'); do
      "$1" -t "$table" -P "$chain" ACCEPT || return 1
    done
  done
  "$1-restore" < "$2"
}

put_back() {  # what the stash keeps, live again; the stash forgotten. Says what came back.
  if restore_rules iptables "$stash/rules.ip" && restore_rules ip6tables "$stash/rules.ip6" \
     && restore_rules iptables-legacy "$stash/rules.ip-legacy" \
     && restore_rules ip6tables-legacy "$stash/rules.ip6-legacy"; then
    loaded="the live rules of before"
  else
    loaded=
    echo "firehol-switch: the rules of before did not load: firehol loads the previous files" >&2
  fi
  conntrack_unprime  # where the rules of before did not replace it (lib.sh)
  journal_restore "$stash/journal"
  if [ -f "$stash/applied" ]; then
    mv -f -- "$stash/applied" "$applied"
  else
    rm -f -- "$applied"
  fi
  if [ -z "$loaded" ]; then
    if systemctl reload-or-restart firehol.service && live_rules_digest > "$applied"; then
      loaded="the rules of the previous firehol.conf"
    else
      loaded="no rules of before (firehol failed too: see its journal)"
    fi
  fi
  rm -rf -- "$stash"
  echo "firehol-switch: $loaded, the previous firehol files and the applied rules' digest are back"
}

switch_lock "$switch" || { echo "firehol-switch: cannot take the lock of $switch" >&2; exit 1; }
stash=$(switch_stash "$switch")
if [ ! -d "$stash" ] || { [ "$action" = apply ] && [ -f "$stash/live" ]; }; then
  echo "firehol-switch: nothing to $action: the switch was confirmed or put back already"
  exit 0
fi

if [ "$action" = revert ]; then
  echo "firehol-switch: the deploy did not confirm the new firewall rules by" \
    "$(utc_time "$(cat -- "$stash/deadline" 2>/dev/null)" 2>/dev/null || echo "its deadline"):" \
    "putting the previous ones back"
  put_back
  utc_time "$(date +%s)" > "$(switch_record "$switch")"
  exit 0
fi

since=$(date +%s)
if systemctl reload-or-restart firehol.service; then
  date +%s > "$stash/live"
  conntrack_unprime  # firehol's rules track connections now (lib.sh)
  mkdir -p -- "$(dirname -- "$applied")" && live_rules_digest > "$applied" \
    && systemctl enable --quiet firehol && exit 0
  echo "firehol-switch: the new rules are live, but their digest is not recorded or" \
    "firehol.service not enabled" >&2
  exit 1
fi
words=$(journalctl -u firehol.service --since "@$since" -o cat --no-pager | tail -n 40)
echo "firehol-switch: firehol did not start the new rules: putting the previous ones back" >&2
put_back
printf '%s\n' "$words" > "$(switch_failure "$switch")"
exit 1
