# Prepended to every script of deploys/scripts (deploys/shell.py `script`).
# shellcheck disable=SC2034,SC2329  # not every script uses every name and function
#
# The names the scripts share with the deploy's Python (src/aitbc_infra/host_names.py,
# SCRIPT_ARGUMENTS) arrive as the first arguments; the script's own follow.
prev_suffix=$1 temp_suffix=$2 restart_mark=$3 candidate_infix=$4 releases_dir=$5 venv_link=$6 snapshot_dir=$7
shift 7

# A journal (JOURNAL_FILE) lists one written path a line; what the write replaced is kept
# under JOURNAL_FILE$prev_suffix/, at the path's own absolute path (no copy: the path did not
# exist). Never beside the path: a directory a service reads whole (nginx's sites-enabled/*)
# would load the copy as one more configuration file.

journal_copy() {  # JOURNAL_FILE PATH: where PATH's previous content is kept
  printf '%s' "$1$prev_suffix$2"
}

journal_paths() {  # JOURNAL_FILE: the listed paths, one a line
  [ ! -f "$1" ] || cat -- "$1"
}

journal_restore() {  # JOURNAL_FILE: every listed path gets its previous content back
  journal_paths "$1" | while IFS= read -r path; do
    copy=$(journal_copy "$1" "$path")
    if [ -e "$copy" ] || [ -L "$copy" ]; then
      mv -Tf -- "$copy" "$path"
    else
      rm -f -- "$path"
    fi
  done
  rm -rf -- "$1$prev_suffix"
  rm -f -- "$1"
}

journal_forget() {  # JOURNAL_FILE: the new files stay; the copies and the journal go
  rm -rf -- "$1$prev_suffix"
  rm -f -- "$1"
}

# Connection tracking begins in a network namespace with the first rule that asks for it. On a
# host that never had one (a fresh machine), no open connection is tracked, and firehol's rules,
# which admit ESTABLISHED traffic and drop a NEW TCP packet without SYN, cut every one of them:
# the deploy's own SSH connection, and a confirmation opened just before the rules went live.
# This rule only reads the state (it has no target): added while everything is still accepted,
# the kernel picks the open connections up as their next packets pass (nf_conntrack_tcp_loose),
# ESTABLISHED by the time the rules go live. It goes where firehol loads its rules (Debian's
# firehol: the legacy backend), whose load replaces the table it is in: a table made in the
# other backend would stay behind, empty, in the live rules' digest, and vanish at the next
# boot (the rules loaded then would differ from those applied). The apply takes it out where it
# is left, as does putting back the rules of before.
prime_backend() {
  if command -v iptables-legacy >/dev/null 2>&1; then echo iptables-legacy; else echo iptables; fi
}

conntrack_prime() {
  backend=$(prime_backend)
  "$backend" -w -C INPUT -m conntrack --ctstate INVALID -m comment \
    --comment aitbc-conntrack-prime 2>/dev/null || "$backend" -w -I INPUT -m conntrack \
    --ctstate INVALID -m comment --comment aitbc-conntrack-prime
}

conntrack_unprime() {  # the rule out of both backends, wherever it is
  for backend in iptables iptables-legacy; do
    command -v "$backend" >/dev/null 2>&1 || continue
    "$backend" -w -D INPUT -m conntrack --ctstate INVALID \
      -m comment --comment aitbc-conntrack-prime 2>/dev/null  # one at most: see the -C above
  done
  return 0
}

live_rules_digest() {  # the live iptables rules (both backends), packet counters left out
  { iptables-save; iptables-legacy-save; } 2>/dev/null | grep -v '^#' \
    | sed 's/\[[0-9]*:[0-9]*\]//' | sha256sum | cut -d' ' -f1
}

run_inline() {  # BODY NAME ARG...: another host script, its lib.sh and text handed over as BODY
  # (aitbc_infra/host_scripts.py `body`), with the shared names first as the caller got them.
  inline_body=$1 inline_name=$2
  shift 2
  sh -c "$inline_body" "$inline_name" "$prev_suffix" "$temp_suffix" "$restart_mark" \
    "$candidate_infix" "$releases_dir" "$venv_link" "$snapshot_dir" "$@"
}

# A release's data snapshot, SNAPSHOT_DIR = ROOT/releases/RELEASE/$snapshot_dir/ (taken by
# activate-release.sh as RELEASE stopped being live, put back by restore-data.sh): root's alone,
# holding NAME.KIND for each data file and this manifest, a line per file:
#   NAME KIND PATH TAKEN UID GID MODE
# TAKEN the UTC time the copy began (YYYY-MM-DDTHH:MM:SSZ); UID, GID and MODE (octal) the data
# file's then, for a file that is gone by the time it is restored.
snapshot_manifest() {  # SNAPSHOT_DIR
  printf '%s/manifest' "$1"
}

# The firewall's switch to new rules, all under one directory SWITCH_DIR: firehol-activate
# arms it (the deploy), firehol-switch applies the rules or puts the previous ones back (run
# by systemd timers), firehol-confirm disarms it (the deploy, over a new SSH connection);
# firehol-state and status read it.
#   lock      held by each of them while it reads or changes the rest: a confirmation and a
#             revert never interleave, one of them finds the other's result
#   armed/    while new rules are not confirmed: what they replace. rules.ip, rules.ip6 (the
#             live rules before them, as iptables-save and ip6tables-save printed them;
#             rules.ip-legacy, rules.ip6-legacy: the legacy backend's, where it exists),
#             applied (the digest recorded then; absent: none), journal (the files they came
#             with, listed as a deploy's journal lists them, with their content of before),
#             deadline (when the revert runs, in seconds since the epoch), live (when the new
#             rules went live; absent: not yet)
#   failed    firehol's words when it did not start new rules (those and their files are back),
#             until the deploy reads them
#   reverted  when the host last put unconfirmed rules back (UTC), until an apply is confirmed

switch_lock() {  # SWITCH_DIR [now]: hold its lock (fd 9) until the script ends; with "now",
  # fail at once when another holds it. SWITCH_DIR exists: firehol-activate makes it.
  exec 9>"$1/lock" || return 1
  if [ "${2:-}" = now ]; then flock -n 9; else flock 9; fi
}

switch_stash() {  # SWITCH_DIR: what an armed revert puts back
  printf '%s/armed' "$1"
}

switch_record() {  # SWITCH_DIR: the time of the last revert
  printf '%s/reverted' "$1"
}

switch_failure() {  # SWITCH_DIR: firehol's words on the last start that failed
  printf '%s/failed' "$1"
}

utc_time() {  # SECONDS since the epoch, as UTC (fails on anything else)
  case $1 in ''|*[!0-9]*) return 1 ;; esac
  date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ
}
