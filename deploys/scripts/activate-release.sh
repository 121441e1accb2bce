# activate-release PENDING ROOT RELEASE KEEP TIMEOUT JOURNAL VALIDATE PYTHON DATA STEPS
#                  [UNIT ACTION LISTENS NEW LIVE CANDIDATE PROBE]...
#
# Brings one app to RELEASE (ROOT/releases/RELEASE) and to the unit, socket and env files the
# deploy just wrote (listed in the journal PENDING/JOURNAL, their old copies kept), running the
# release STEPS it owes first and doing to each UNIT what the deploy decided it owes
# (aitbc_infra/decision.py), its ACTION:
#   restart  restart it (LISTENS=yes: its socket UNIT.socket stays open meanwhile, so
#            connections wait instead of being refused)
#   socket   its socket changed or does not run: stop it, restart the socket, start it
#   start    start (and enable) it, restarting nothing
#   none     nothing
# A UNIT is a service's bare name, or a unit's full name (a scheduled job's timer, UNIT.timer:
# the job itself is never among them, its timer starts it); systemctl reads either.
#  1. VALIDATE (systemd-analyze verify of the app's units), then daemon-reload. Rejected: the
#     old files come back and nothing else happens.
#  2. STEPS ("": none; a rollback gives none) are the app's release steps the decision owes,
#     NAME=TEMPLATE space-separated, in order (a database migration): each runs to its end as
#     the oneshot unit TEMPLATE@RELEASE.service (the app's user, its service's env file and
#     hardening, RELEASE mounted at the venv's path, its own TimeoutStartSec), its output shown.
#     When the release changes, the data is snapshotted first (as in step 4, here: before the
#     first write the release makes). A step that fails or outlives its timeout fails the run,
#     naming it and its exit status: the old files come back, nothing running was touched (what
#     the step itself wrote stays: a migration is one transaction; restore-data puts the
#     snapshot back). Before the candidates, which are proven against the data as the release
#     will find it (its data probe reads the migrated database).
#  3. Each running unit owed a restart or socket that has a CANDIDATE is first started beside
#     the running one as UNIT-candidate@RELEASE (same user, env and hardening, the release
#     mounted at the venv's path, a scratch socket) and must be healthy there: CANDIDATE is its
#     health URL, or "up" (it must stay up). A candidate that exits or answers non-2xx fails the
#     run before the running release is touched; the old files come back.
#     PROBE ("-": none) is the service's data probe, a path: once the health URL answers, the
#     same origin's PROBE must answer a GET with 2xx too, read from the data already there, as
#     a candidate and at the live gate (step 4); a release that cannot read that data fails
#     there like an unhealthy one, and the error line names the probe.
#  4. Before the cutover to another release, the app's DATA is snapshotted into the outgoing
#     release (unless step 2 did): DATA lists NAME=KIND=PATH (space-separated; "" none), and
#     each sqlite file that exists is copied by SQLite's online backup (PYTHON's sqlite3
#     module: consistent while the app writes; the sqlite3 program is not on every host) into
#     ROOT/releases/OUTGOING/<snapshot dir>/NAME.KIND, with a manifest (lib.sh), root's alone
#     (the data may hold secrets) and pruned with that release; restore-data.sh puts it back.
#     A file that does not exist yet (a first deploy) is not snapshotted. A snapshot that
#     fails stops the run before the cutover; the old files come back.
#     Then ROOT/.venv is pointed at RELEASE (a symlink renamed over the old one: atomic) and
#     each unit gets its ACTION. Each must then be healthy at LIVE (its health URL, then its
#     PROBE; "-": it stays up) within TIMEOUT seconds, else the previous release and the old
#     files come back, the units get their ACTION again, and the run fails naming the unit; a
#     unit with NEW=yes (its unit file did not exist before) has nothing to come back to: it
#     is stopped instead.
#     With no unit to restart (an app of scheduled jobs: their timers run no release), ROOT/.venv
#     is pointed at RELEASE all the same, and the jobs run it from their next run.
# Keeps the KEEP most recently activated releases. PENDING/<restart mark>UNIT marks a restart owed.
# Unit lists are space-separated on purpose: every argument is checked first, so a unit name
# holds no blank or glob character and a URL no blank, and globbing is off.
# shellcheck disable=SC2086,SC2012
set -u
set -f
[ $# -ge 10 ] || { echo "activate-release: refused: too few arguments ($#)" >&2; exit 2; }
pending=$1 root=$2 release=$3 keep=$4 timeout=$5 journal=$1/$6 validate=$7 python=$8 data=$9
steps=${10}
shift 10

refuse() { printf 'activate-release: refused %s: %s\n' "$1" "$2" >&2; exit 2; }
case $pending in /*) ;; *) refuse "pending directory (not absolute)" "$pending" ;; esac
case $root in /*) ;; *) refuse "app root (not absolute)" "$root" ;; esac
case $release in ''|.|..|*[!A-Za-z0-9._-]*) refuse "release name" "$release" ;; esac
case $keep in ''|*[!0-9]*) refuse "number of releases to keep" "$keep" ;; esac
case $timeout in ''|*[!0-9]*) refuse "health timeout" "$timeout" ;; esac
case ${journal#"$pending"/} in ''|*[!A-Za-z0-9._-]*) refuse "journal name" "$journal" ;; esac
case $python in /*) ;; *) refuse "python (not absolute)" "$python" ;; esac
case $python in *[[:space:]]*) refuse "python" "$python" ;; esac
for entry in $data; do
  name=${entry%%=*} path=${entry#*=*=}
  case $entry in "$name=sqlite=$path") ;; *) refuse "data entry (not NAME=sqlite=PATH)" "$entry" ;; esac
  case $name in [a-z]*) ;; *) refuse "data name" "$name" ;; esac
  case $name in *[!a-z0-9_-]*) refuse "data name" "$name" ;; esac
  case $path in /*) ;; *) refuse "data path (not absolute)" "$path" ;; esac
  case $path in *[!A-Za-z0-9_.@+/-]*|*/../*|*/..|*/./*|*/.|*//*) refuse "data path" "$path" ;; esac
done
for entry in $steps; do
  name=${entry%%=*} template=${entry#*=}
  case $entry in "$name=$template") ;; *) refuse "step (not NAME=TEMPLATE)" "$entry" ;; esac
  case $name in [a-z]*) ;; *) refuse "step name" "$name" ;; esac
  case $name in *[!a-z0-9_]*) refuse "step name" "$name" ;; esac
  case $template in ''|*[!A-Za-z0-9:_.-]*) refuse "step unit of $name" "$template" ;; esac
done
[ $(( $# % 7 )) -eq 0 ] || refuse "unit arguments (not UNIT ACTION LISTENS NEW LIVE CANDIDATE PROBE)" "$*"
units="" specs=""
while [ $# -gt 0 ]; do
  case $1 in ''|*[!A-Za-z0-9:_.@-]*) refuse "unit name" "$1" ;; esac
  case $2 in restart|socket|start|none) ;; *) refuse "action of $1" "$2" ;; esac
  case $3 in yes|no) ;; *) refuse "socket flag of $1" "$3" ;; esac
  case $4 in yes|no) ;; *) refuse "new-unit flag of $1" "$4" ;; esac
  case $5$6 in *[[:space:]=]*) refuse "health URL of $1" "$5 $6" ;; esac
  # The probe is the spec's last field: it may hold '=' (a query), never a blank.
  case $7 in -|/*) ;; *) refuse "data probe of $1" "$7" ;; esac
  case $7 in *[[:space:]]*) refuse "data probe of $1" "$7" ;; esac
  units="$units $1" specs="$specs $1=$2=$3=$4=$5=$6=$7"
  shift 7
done
mkdir -p "$pending"
link="$root/$venv_link"
want="$releases_dir/$release"

now() { date +%s.%N; }
seconds_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

field() {  # UNIT N: field N of the unit's spec (2 action, 3 listens, 4 new, 5 live URL,
           # 6 candidate, 7- the data probe: the rest of the spec, '=' and all)
  for spec in $specs; do
    [ "${spec%%=*}" = "$1" ] && printf '%s\n' "$spec" | cut -d= -f"$2"
  done
}

origin() {  # URL: its scheme and authority, where the service's data probe is asked
  rest=${1#*://}
  printf '%s://%s' "${1%%://*}" "${rest%%/*}"
}

answers() {  # URL: a GET answered 2xx (not a redirect, not an error)
  case $(curl -gsS -o /dev/null -m 5 -w '%{http_code}' "$1" 2>/dev/null) in
    2??) return 0 ;;
  esac
  return 1
}

point_at() {
  ln -sfn "$1" "$link$temp_suffix" && mv -Tf "$link$temp_suffix" "$link"
}

healthy() {  # UNIT URL PROBE: running within the timeout, answering 2xx at URL ("-" or "up":
             # staying up), then at the data PROBE ("-": none); gate_miss says which it missed
  deadline=$(( $(date +%s) + timeout ))
  gate_miss=health
  while [ "$(date +%s)" -lt "$deadline" ]; do
    case $(systemctl show -p ActiveState --value "$1"):$(systemctl show -p SubState --value "$1") in
      active:*)
        case $2 in
          -|up) sleep 2; systemctl is-active -q "$1" && return 0 ;;
          *)
            if curl -fsS -o /dev/null -m 2 "$2" 2>/dev/null; then
              [ "$3" != - ] || return 0
              # Asked again until the timeout, as the health URL is: an app may open its
              # data after it first answers.
              gate_miss=probe
              answers "$(origin "$2")$3" && return 0
            fi ;;
        esac ;;
      *:auto-restart|failed:*|inactive:*)
        return 1 ;;  # it exited: waiting out the timeout would only prolong the outage
    esac
    sleep 0.3
  done
  return 1
}

what_failed() {  # UNIT URL [SYSTEMD_UNIT]: what the gate saw (gate_miss), for the error line
  case $2:$gate_miss in
    -:*|up:*) printf '%s did not stay up (systemd result: %s)' "$1" \
            "$(systemctl show -p Result --value "${3:-$1}" 2>/dev/null || echo unknown)" ;;
    *:probe) printf '%s failed its data probe (%s): healthy at %s, but %s did not answer 2xx with the existing data within %ss' \
         "$1" "$(field "$1" 7-)" "$2" "$(origin "$2")$(field "$1" 7-)" "$timeout" ;;
    *) printf '%s failed its health check (%s): it exited, or was not healthy within %ss' \
         "$1" "$2" "$timeout" ;;
  esac
}

first_unhealthy() {  # UNIT...: true when each is healthy at its live URL and data probe; else
                     # false, `failed` the first that is not and `gate_miss` what it missed
  for unit in "$@"; do
    healthy "$unit" "$(field "$unit" 5)" "$(field "$unit" 7-)" || { failed=$unit; return 1; }
  done
}

restart_units() {  # UNIT...: each as its ACTION says; a socket kept open unless it is owed
  to_restart="" to_start=""
  for unit in "$@"; do
    case $(field "$unit" 2) in
      socket)
        systemctl stop "$unit.service"  # it holds the old socket: the new one could not bind
        systemctl restart "$unit.socket"
        to_restart="$to_restart $unit" ;;
      start) to_start="$to_start $unit" ;;  # not running, or not enabled: nothing to restart
      *) to_restart="$to_restart $unit" ;;
    esac
  done
  [ -z "$to_restart" ] || systemctl restart $to_restart
  [ -z "$to_start" ] || systemctl start $to_start
}

fail_back() {  # MESSAGE: the old files and units back, nothing else touched
  printf '%s\n' "$1" >&2
  journal_restore "$journal"
  systemctl daemon-reload
  exit 1
}

# Every data file, by SQLite's online backup: one python for all of them. Paths arrive as
# arguments, never in the program's text.
sqlite_backup='
import os, sqlite3, sys, time, urllib.parse
snapshot, manifest, entries = sys.argv[1], sys.argv[2], sys.argv[3:]
lines = []
for entry in entries:
    name, kind, path = entry.split("=", 2)
    if not os.path.exists(path):
        print(f"data {name}: no {path} yet, nothing to snapshot")
        continue
    before = os.stat(path)
    taken = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    copy = os.path.join(snapshot, f"{name}.{kind}")
    source = sqlite3.connect(f"file:{urllib.parse.quote(path)}?mode=ro", uri=True)
    target = sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    lines.append(f"{name} {kind} {path} {taken} {before.st_uid} {before.st_gid} "
                 f"{before.st_mode & 0o7777:04o}\n")
    print(f"data {name}: {path} snapshotted ({os.path.getsize(copy)} bytes, {taken})")
if lines:
    with open(manifest, "w") as out:
        out.writelines(lines)
'

snapshot_data() {  # OUTGOING (releases/R): the DATA files as they are now, kept with OUTGOING
  [ -n "$data" ] && [ -n "$1" ] && [ -d "$root/$1" ] || return 0
  kept=$root/$1/$snapshot_dir
  fresh=$kept$temp_suffix
  rm -rf -- "$fresh"
  # Root's alone: the directory 0700, its files 0600 (the data may hold secrets).
  # -I: nothing of the environment or the working directory is imported by root's python.
  ( umask 077 && mkdir -- "$fresh" \
      && "$python" -I -c "$sqlite_backup" "$fresh" "$(snapshot_manifest "$fresh")" $data ) \
    || { rm -rf -- "$fresh"; return 1; }
  # The release's last snapshot replaced whole; none at all where no file exists yet, so an
  # older one can never pass for the data this release last ran with.
  rm -rf -- "$kept"
  if [ -f "$(snapshot_manifest "$fresh")" ]; then mv -T -- "$fresh" "$kept"; else rm -rf -- "$fresh"; fi
}

keep_data() {  # OUTGOING: snapshot_data (once a run), or the run fails before the cutover
  [ "$snapshotted" = no ] || return 0
  if ! snapshot_data "$1"; then
    fail_back "ERROR: could not snapshot the data of $root into ${1:-?}: release $release never went live (release, unit and env files unchanged)"
  fi
  snapshotted=yes
}

run_steps() {  # each of STEPS to its end, in order; the first that fails fails the run
  for entry in $steps; do
    name=${entry%%=*} step=${entry#*=}@$release.service
    began=$(now) since=$(date +%s)
    # A failure left by an earlier attempt at this release would be read as this run's.
    systemctl reset-failed "$step" 2>/dev/null
    if systemctl start "$step"; then
      journalctl -q -o cat -n 50 -u "$step" --since "@$since" 2>/dev/null | sed "s/^/  $name: /"
      echo "step $name done in $(seconds_since "$began")s ($step)"
      ran="$ran $name"
      continue
    fi
    journalctl -q -o cat -n 50 -u "$step" --since "@$since" >&2 2>/dev/null
    # Read before the reset: systemd forgets a unit's result then. A step past its timeout may
    # still be stopping (TimeoutStopSec): its end is waited for, so no failed unit is left.
    result=$(systemctl show -p Result --value "$step" 2>/dev/null)
    status=$(systemctl show -p ExecMainStatus --value "$step" 2>/dev/null)
    systemctl stop "$step" 2>/dev/null
    systemctl reset-failed "$step" 2>/dev/null
    case $result in
      timeout) how="did not end within its timeout (systemd result: timeout)" ;;
      *) how="exited with status ${status:-unknown} (systemd result: ${result:-unknown})" ;;
    esac
    fail_back "ERROR: release step $name of $root failed: $step $how; release $release never went live (release, unit and env files unchanged, no running unit touched)"
  done
}

prune() {  # ACTIVE: keep the `keep` most recently activated releases, and always ACTIVE
  ls -1t "$root/$releases_dir" | tail -n "+$(( keep + 1 ))" | while IFS= read -r old; do
    [ "$releases_dir/$old" = "$1" ] || rm -rf -- "${root:?}/$releases_dir/$old"
  done
}

# 1. The new unit files, validated then loaded ------------------------------------------------
if [ -f "$journal" ]; then
  if ! output=$(sh -c "$validate" 2>&1); then
    printf '%s\n' "$output" >&2
    fail_back "REJECTED by '$validate': the previous files are back; the running units never changed"
  fi
  systemctl daemon-reload
fi

previous=$(readlink "$link" 2>/dev/null || true)
if [ -d "$link" ] && [ ! -L "$link" ]; then
  # A venv installed before releases existed: it becomes the release to roll back to.
  rm -rf "$root/$releases_dir/legacy" && mv -T "$link" "$root/$releases_dir/legacy"
  previous=$releases_dir/legacy
fi

# 2. Release steps: the data snapshotted before their first write -----------------------------
snapshotted=no ran=""
if [ -n "$steps" ]; then
  [ "$previous" = "$want" ] || keep_data "$previous"
  run_steps
fi

restart=""
for unit in $units; do
  [ "$(field "$unit" 2)" = none ] || restart="$restart $unit"
done
if [ -z "$restart" ]; then
  if [ "$previous" != "$want" ]; then
    keep_data "$previous"
    point_at "$want"
    touch -h "$root/$want"
    prune "$want"
    echo "switched to release $release, no unit restarted"
  fi
  journal_forget "$journal"
  exit 0
fi

# 3. Candidates: the release proven beside the running one -------------------------------------
# A candidate a killed run left running would hold its scratch socket: none may outlive a run.
leftovers=""
for unit in $units; do leftovers="$leftovers $unit$candidate_infix*.service $unit$candidate_infix*.socket"; done
systemctl stop $leftovers 2>/dev/null
candidates=""
for unit in $restart; do
  case $(field "$unit" 2) in restart|socket) ;; *) continue ;; esac
  [ "$(field "$unit" 6)" != - ] && systemctl is-active -q "$unit" && candidates="$candidates $unit"
done
if [ -n "$candidates" ]; then
  started=$(now)
  for unit in $candidates; do
    systemctl start "$unit$candidate_infix$release.socket" "$unit$candidate_infix$release.service"
  done
  failed=""
  for unit in $candidates; do
    [ -n "$failed" ] || healthy "$unit$candidate_infix$release" "$(field "$unit" 6)" "$(field "$unit" 7-)" \
      || failed=$unit
  done
  if [ -n "$failed" ]; then
    journalctl -q -n 8 -o cat -u "$failed$candidate_infix$release.service" >&2 2>/dev/null || true
    # Read before the candidates are stopped and reset: systemd forgets their result then.
    failure=$(what_failed "$failed" "$(field "$failed" 6)" "$failed$candidate_infix$release")
  fi
  for unit in $candidates; do
    systemctl stop "$unit$candidate_infix$release.service" "$unit$candidate_infix$release.socket"
    systemctl reset-failed "$unit$candidate_infix$release.service" "$unit$candidate_infix$release.socket" 2>/dev/null
  done
  if [ -n "$failed" ]; then
    [ -z "$ran" ] || failure="$failure (after its release steps:$ran, whose writes to the data stay)"
    fail_back "ERROR: $failure as a candidate of release $release; it never took traffic (release, unit and env files unchanged)"
  fi
  echo "candidates healthy after $(seconds_since "$started")s:$candidates (release $release)"
fi

# 4. Cutover ----------------------------------------------------------------------------------
switched=no
if [ "$previous" != "$want" ]; then
  keep_data "$previous"
  # Marked before the switch: a run killed right after it still restarts these next time.
  for unit in $units; do touch "$pending/$restart_mark$unit"; done
  point_at "$want"
  touch -h "$root/$want"
  switched=yes
fi

systemctl enable -q $restart
for unit in $restart; do [ "$(field "$unit" 3)" = no ] || systemctl enable -q "$unit.socket"; done
started=$(now)
restart_units $restart
if first_unhealthy $restart; then
  for unit in $units; do rm -f "$pending/$restart_mark$unit"; done
  journal_forget "$journal"
  echo "healthy after $(seconds_since "$started")s:$restart (release $release)"
  prune "$want"
  exit 0
fi

printf 'ERROR: %s on release %s\n' "$(what_failed "$failed" "$(field "$failed" 5)")" "$release" >&2
journaled=$(journal_paths "$journal")
# Units this release brought (NEW=yes: their unit file did not exist before, a first deploy).
# There is nothing to go back to for them: they are stopped, their files removed, and nothing
# claims to be restored.
new_units="" back=""
for unit in $restart; do
  if [ "$(field "$unit" 4)" = yes ]; then new_units="$new_units $unit"; else back="$back $unit"; fi
done
undone() {
  if [ "$switched" = yes ]; then
    printf 'ROLLED BACK %s to %s (and its previous unit and env files):' "$root" "${previous:-?}"
  else
    printf 'RESTORED the previous unit and env files of %s:' "$root"
  fi
}
for unit in $new_units; do
  own=$unit
  [ "$(field "$unit" 3)" = no ] || own="$own $unit.socket"
  systemctl stop $own 2>/dev/null
  systemctl reset-failed $own 2>/dev/null
done
journal_restore "$journal"
systemctl daemon-reload
if [ -n "$new_units" ]; then
  printf 'NOTHING TO RESTORE for%s: new with release %s (a first deploy); stopped, their unit and env files removed\n' \
    "$new_units" "$release" >&2
fi
if [ "$switched" = yes ] && [ -n "$previous" ] && [ -d "$root/$previous" ]; then
  point_at "$previous"
elif [ "$switched" = yes ] && [ -n "$back" ]; then
  printf '%s\n' "no previous release of $root to roll back to" >&2
fi
if [ -n "$back" ] && { [ "$switched" = yes ] || [ -n "$journaled" ]; }; then
  restart_units $back
  if first_unhealthy $back; then
    # They run the files on disk again, with the previous release: nothing is owed to them.
    for unit in $units; do rm -f "$pending/$restart_mark$unit"; done
    [ "$switched" = no ] || { touch -h "$root/$previous"; prune "$previous"; }
    printf '%s\n' "$(undone) healthy again $(seconds_since "$started")s after the restart" >&2
  else
    printf '%s\n' "$(undone) but $failed is still unhealthy" >&2
  fi
fi
exit 1
