# firehol-activate APPLIED_DIGEST_FILE JOURNAL_FILE SWITCH_DIR APPLY_UNIT REVERT_UNIT
#                  CONFIRM_SECONDS SWITCH_PROGRAM
#
# Switches the host to the validated firehol files this run wrote (listed in JOURNAL_FILE,
# their previous content kept), so that it comes back by itself unless the deploy confirms the
# new rules over a new SSH connection (deploys/firewall.py). Nothing is applied here: this
# command's answer must reach the deploy before new rules could cut its connection.
#  1. What the new rules replace is kept under SWITCH_DIR (lib.sh): the live rules, the digest
#     recorded for them, and each file of the journal with its content of before.
#  2. Two transient timers, owned by systemd and not by this session, are armed: APPLY_UNIT
#     runs `sh SWITCH_PROGRAM apply SWITCH_DIR APPLIED_DIGEST_FILE` a second from now;
#     REVERT_UNIT runs `... revert ...` CONFIRM_SECONDS from now (the window the host's
#     firewall.confirm_seconds declares), unless firehol-confirm disarms it first.
# A switch already armed (a run killed before it confirmed) keeps what it kept, the rules of
# before that run (the last confirmed), adding a file this run wrote that it did not hold yet
# with its content of before; both timers are armed again. Arming fails: nothing is applied,
# and the deploy puts the files back (commit.sh).
set -u
applied=$1 journal=$2 switch=$3 apply_unit=$4 revert_unit=$5 seconds=$6 program=$7

refuse() { printf 'firehol-activate: refused %s: %s\n' "$1" "$2" >&2; exit 2; }
for path in "$applied" "$journal" "$switch" "$program"; do
  case $path in /*) ;; *) refuse "path (not absolute)" "$path" ;; esac
done
for unit in "$apply_unit" "$revert_unit"; do
  case $unit in ''|-*|*[!A-Za-z0-9_.-]*) refuse "timer unit name" "$unit" ;; esac
done
case $seconds in ''|0*|*[!0-9]*) refuse "confirmation window (seconds)" "$seconds" ;; esac

stash_journal() {  # STASH_JOURNAL: add each path of this run's journal it lacks, as it was before
  journal_paths "$journal" | while IFS= read -r path; do
    ! grep -qxF -- "$path" "$1" 2>/dev/null || continue
    copy=$(journal_copy "$journal" "$path")
    if [ -e "$copy" ] || [ -L "$copy" ]; then
      kept=$(journal_copy "$1" "$path")
      { mkdir -p -- "$(dirname -- "$kept")" && cp -a -- "$copy" "$kept"; } || exit 1
    fi
    printf '%s\n' "$path" >> "$1" || exit 1
  done
}

timer() {  # UNIT SECONDS ACTION DESCRIPTION: ACTION of the switch program, SECONDS from now
  systemd-run --quiet --collect --unit="$1" --on-active="$2" \
    --timer-property=AccuracySec=100ms --timer-property=RemainAfterElapse=no \
    --description="aitbc-infra: $4" -- /bin/sh "$program" "$3" "$switch" "$applied"
}

stop_timers() {  # the timers of an earlier arm (and a service one started, waiting for the lock)
  for unit in "$apply_unit" "$revert_unit"; do
    systemctl stop -- "$unit.timer" "$unit.service" 2>/dev/null
    systemctl reset-failed -- "$unit.timer" "$unit.service" 2>/dev/null
  done
  return 0
}

if ! { mkdir -p -- "$switch" && switch_lock "$switch"; }; then
  echo "firehol-activate: cannot take the lock of $switch" >&2
  exit 1
fi
stash=$(switch_stash "$switch")
rm -f -- "$(switch_failure "$switch")"  # of an earlier start: this one is the one to report
armed_here=no
if [ -d "$stash" ]; then
  echo "firehol-activate: the switch armed by an earlier run that never confirmed stays armed:" \
    "it puts back the rules of before that run" >&2
  stash_journal "$stash/journal" || exit 1
  rm -f -- "$stash/live"
else
  new=$stash$temp_suffix
  rm -rf -- "$new" && mkdir -m 0700 -- "$new" || exit 1
  if ! iptables-save > "$new/rules.ip"; then
    rm -rf -- "$new"
    echo "firehol-activate: cannot save the live rules (iptables-save failed): nothing applied" >&2
    exit 1
  fi
  ip6tables-save > "$new/rules.ip6" 2>/dev/null || rm -f -- "$new/rules.ip6"  # no IPv6 here
  # firehol may load its rules through the legacy backend (bookworm's does), which the default
  # iptables (nft) neither shows nor restores: those tables are kept too, where they exist.
  for family in ip ip6; do
    if command -v "${family}tables-legacy-save" >/dev/null 2>&1; then
      "${family}tables-legacy-save" > "$new/rules.$family-legacy" 2>/dev/null \
        || rm -f -- "$new/rules.$family-legacy"
    fi
  done
  if ! { { [ ! -f "$applied" ] || cp -p -- "$applied" "$new/applied"; } \
         && stash_journal "$new/journal" && mv -T -- "$new" "$stash"; }; then
    rm -rf -- "$new"
    exit 1
  fi
  armed_here=yes
fi

stop_timers
# After the rules of before are kept (the stash holds them without it): lib.sh says why.
conntrack_prime || echo "firehol-activate: connection tracking not started ahead: open" \
  "connections may be cut as the rules go live" >&2
deadline=$(( $(date +%s) + seconds ))
echo "$deadline" > "$stash/deadline"
if ! timer "$revert_unit" "$seconds" revert "unconfirmed firewall rules put back"; then
  echo "firehol-activate: cannot arm the revert timer $revert_unit: nothing applied" >&2
  if [ "$armed_here" = yes ]; then
    rm -rf -- "$stash"
  else  # the earlier run's unconfirmed rules would stay with no timer: they go back now
    exec 9>&-
    sh "$program" revert "$switch" "$applied" >&2
  fi
  exit 1
fi
if ! timer "$apply_unit" 1 apply "new firewall rules applied"; then
  echo "firehol-activate: cannot arm the apply timer $apply_unit: nothing applied" >&2
  if [ "$armed_here" = yes ]; then
    stop_timers
    rm -rf -- "$stash"
  fi
  exit 1
fi
echo "firehol: the new rules go live in a second; unless the deploy confirms them over a new" \
  "SSH connection, the host puts the previous ones back at $(utc_time "$deadline") ($seconds s)"
