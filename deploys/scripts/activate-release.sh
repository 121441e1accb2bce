# activate-release PENDING_DIR ROOT RELEASE KEEP TIMEOUT UNIT=HEALTH_URL...
#
# Points ROOT/.venv at releases/RELEASE (a symlink renamed over the old one: atomic), restarts
# the app's units that need it (new release, a pending restart from a changed unit or env file,
# or not running) and waits until each is healthy: its health URL answers 2xx, or, without one,
# it stays active. A unit whose process exits (systemd schedules a restart) fails at once; one
# still unhealthy after TIMEOUT seconds too. Failing puts the previous release back, restarts
# again and fails naming the unit. Keeps the KEEP most recently activated releases.
# PENDING_DIR/restart-UNIT marks a restart a unit is owed (see deploys/journal.py).
# Unit lists are space-separated on purpose: every argument is checked first, so a unit name
# holds no blank or glob character and a health URL no blank, and globbing is off.
# shellcheck disable=SC2086,SC2012
set -u
set -f
pending=$1 root=$2 release=$3 keep=$4 timeout=$5
shift 5

refuse() { printf 'activate-release: refused %s: %s\n' "$1" "$2" >&2; exit 2; }
case $pending in /*) ;; *) refuse "pending directory (not absolute)" "$pending" ;; esac
case $root in /*) ;; *) refuse "app root (not absolute)" "$root" ;; esac
case $release in ''|.|..|*[!A-Za-z0-9._-]*) refuse "release name" "$release" ;; esac
case $keep in ''|*[!0-9]*) refuse "number of releases to keep" "$keep" ;; esac
case $timeout in ''|*[!0-9]*) refuse "health timeout" "$timeout" ;; esac
for spec in "$@"; do
  case $spec in *=*) ;; *) refuse "UNIT=HEALTH_URL (no =)" "$spec" ;; esac
  case ${spec%%=*} in ''|*[!A-Za-z0-9:_.@-]*) refuse "unit name" "${spec%%=*}" ;; esac
  case ${spec#*=} in *[[:space:]]*) refuse "health URL" "${spec#*=}" ;; esac
done
specs="$*"
mkdir -p "$pending"
link="$root/.venv"
want="releases/$release"

now() { date +%s.%N; }
seconds_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

health_url() {
  for spec in $specs; do [ "${spec%%=*}" = "$1" ] && printf '%s\n' "${spec#*=}"; done
}

point_at() {
  ln -sfn "$1" "$link.aitbc-new" && mv -Tf "$link.aitbc-new" "$link"
}

healthy() {  # UNIT URL: within the timeout
  deadline=$(( $(date +%s) + timeout ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if systemctl is-active -q "$1"; then
      if [ -n "$2" ]; then
        curl -fsS -o /dev/null -m 2 "$2" 2>/dev/null && return 0
      else
        sleep 2  # no health URL: it must stay up, not crash right after starting
        systemctl is-active -q "$1" && return 0
      fi
    elif [ "$(systemctl show -p SubState --value "$1")" = auto-restart ]; then
      return 1  # it exited on its own: waiting out the timeout would only prolong the outage
    fi
    sleep 0.3
  done
  return 1
}

prune() {  # ACTIVE: keep the `keep` most recently activated releases, and always ACTIVE
  ls -1t "$root/releases" | tail -n "+$(( keep + 1 ))" | while IFS= read -r old; do
    [ "releases/$old" = "$1" ] || rm -rf -- "${root:?}/releases/$old"
  done
}

first_unhealthy() {
  for unit in $restart; do
    healthy "$unit" "$(health_url "$unit")" || { echo "$unit"; return 1; }
  done
}

previous=$(readlink "$link" 2>/dev/null || true)
if [ -d "$link" ] && [ ! -L "$link" ]; then
  # A venv installed before releases existed: it becomes the release to roll back to.
  rm -rf "$root/releases/legacy" && mv -T "$link" "$root/releases/legacy"
  previous=releases/legacy
fi

switched=no
if [ "$previous" != "$want" ]; then
  # Marked before the switch: a run killed right after it still restarts these next time.
  for spec in $specs; do touch "$pending/restart-${spec%%=*}"; done
  point_at "$want"
  touch -h "$root/$want"
  switched=yes
fi

restart=""
for spec in $specs; do
  unit=${spec%%=*}
  if [ -e "$pending/restart-$unit" ] || ! systemctl is-active -q "$unit"; then
    restart="$restart $unit"
  fi
done
[ -n "$restart" ] || exit 0

systemctl enable -q $restart
started=$(now)
systemctl restart $restart
if failed=$(first_unhealthy); then
  for unit in $restart; do rm -f "$pending/restart-$unit"; done
  echo "healthy after $(seconds_since "$started")s:$restart (release $release)"
  prune "$want"
  exit 0
fi

printf '%s %s\n' "ERROR: $failed failed its health check ($(health_url "$failed")) on release $release:" \
  "it exited, or was not healthy within ${timeout}s" >&2
if [ "$switched" = yes ] && [ -n "$previous" ] && [ -d "$root/$previous" ]; then
  point_at "$previous"
  systemctl restart $restart
  if failed=$(first_unhealthy); then
    # They run the files on disk again, with the previous release: nothing is owed to them.
    for unit in $restart; do rm -f "$pending/restart-$unit"; done
    touch -h "$root/$previous"
    prune "$previous"
    printf '%s\n' "ROLLED BACK $root to $previous: healthy again $(seconds_since "$started")s after the restart" >&2
  else
    printf '%s\n' "ROLLED BACK $root to $previous, but $failed is still unhealthy" >&2
  fi
elif [ "$switched" = yes ]; then
  printf '%s\n' "no previous release of $root to roll back to" >&2
else
  echo "the release did not change (the unit or env file did): nothing to roll back to" >&2
fi
exit 1
