# restore-data ROOT RELEASE
#
# Puts the app's data back as it was when RELEASE stopped being live: the snapshot that
# activate-release.sh kept with it (ROOT/releases/RELEASE/<snapshot dir>/, lib.sh's manifest)
# replaces each data file it lists. Run it while the app's units are stopped
# (`aitbc-infra rollback APP --restore-data` stops them, runs it, then activates RELEASE): a
# running app would go on writing the file it holds open.
#
# It first prints on stdout what the restore drops, per file: when the snapshot was taken and
# when the data file (or its SQLite write-ahead log or journal) last changed; a change at or
# after the snapshot's second is a write the restore drops. Then, file by file, the snapshot
# is copied beside the data file, given the owner, group and mode of the file it replaces (the
# manifest's, for a file that is gone), synced, and renamed over it: each file is either the
# old one or the whole snapshot. The file's -wal, -shm and -journal are removed first: SQLite
# would replay the old database's writes onto the restored one.
#
# Exit 0 restored; 3 no snapshot kept with RELEASE (or no such release); 2 a bad argument
# (nothing read or written); 1 a manifest line or a copy that is not right, or a restore that
# failed (named).
set -u
set -f

refuse() { printf 'restore-data: refused %s: %s\n' "$1" "$2" >&2; exit 2; }
[ $# -eq 2 ] || refuse "arguments (not ROOT RELEASE)" "$*"
root=$1 release=$2
case $root in /*) ;; *) refuse "app root (not absolute)" "$root" ;; esac
case $release in ''|.|..|*[!A-Za-z0-9._-]*) refuse "release name" "$release" ;; esac

snapshot=$root/$releases_dir/$release/$snapshot_dir
manifest=$(snapshot_manifest "$snapshot")
if [ ! -d "$root/$releases_dir/$release" ]; then
  printf 'restore-data: release %s of %s is not kept: no snapshot to restore\n' "$release" "$root" >&2
  exit 3
fi
if [ ! -f "$manifest" ]; then
  printf 'restore-data: no data snapshot kept with release %s of %s (%s)\n' "$release" "$root" "$snapshot" >&2
  exit 3
fi

bad() { printf 'restore-data: %s: %s\n' "$manifest" "$1" >&2; exit 1; }

# Every line checked before anything is written.
count=0
while read -r name kind path taken uid gid mode extra; do
  count=$(( count + 1 ))
  line="line $count"
  [ -z "${extra:-}" ] || bad "$line: more fields than NAME KIND PATH TAKEN UID GID MODE"
  case $name in [a-z]*) ;; *) bad "$line: data name '$name'" ;; esac
  case $name in *[!a-z0-9_-]*) bad "$line: data name '$name'" ;; esac
  case $kind in sqlite) ;; *) bad "$line: kind '$kind' (this host restores sqlite)" ;; esac
  case $path in /*) ;; *) bad "$line: data path '$path' (not absolute)" ;; esac
  case $path in *[!A-Za-z0-9_.@+/-]*|*/../*|*/..|*/./*|*//*) bad "$line: data path '$path'" ;; esac
  case $taken in [0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z) ;;
    *) bad "$line: time taken '$taken'" ;; esac
  case $uid$gid in ''|*[!0-9]*) bad "$line: owner '$uid:$gid'" ;; esac
  case $mode in [0-7][0-7][0-7]|[0-7][0-7][0-7][0-7]) ;; *) bad "$line: mode '$mode'" ;; esac
  [ -f "$snapshot/$name.$kind" ] || bad "$line: no copy $snapshot/$name.$kind"
done < "$manifest"
[ "$count" -gt 0 ] || bad "it lists no data file"

utc() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

last_change() {  # PATH: the newest modification of the database, its log and its journal (epoch)
  newest=0
  for file in "$1" "$1-wal" "$1-journal"; do
    [ -e "$file" ] || continue
    at=$(stat -c %Y -- "$file")
    [ "$at" -le "$newest" ] || newest=$at
  done
  echo "$newest"
}

# 1. What the restore drops, before anything changes ------------------------------------------
echo "restoring the data of $root as release $release left it:"
while read -r name kind path taken uid gid mode; do
  if [ ! -e "$path" ]; then
    printf '  %s (%s): snapshot taken %s; the data file is gone: it comes back as it was then\n' \
      "$name" "$path" "$taken"
    continue
  fi
  changed=$(last_change "$path")
  if [ "$changed" -ge "$(date -u -d "$taken" +%s)" ]; then
    printf '  %s (%s): snapshot taken %s, data file last modified %s: DROPS every write since the snapshot\n' \
      "$name" "$path" "$taken" "$(utc "$changed")"
  else
    printf '  %s (%s): snapshot taken %s, data file last modified %s, before it: drops nothing\n' \
      "$name" "$path" "$taken" "$(utc "$changed")"
  fi
done < "$manifest"

# 2. Each file replaced whole -----------------------------------------------------------------
umask 077
while read -r name kind path taken uid gid mode; do
  copy=$snapshot/$name.$kind
  fresh=$path$temp_suffix
  rm -f -- "$fresh"
  if ! cp -- "$copy" "$fresh"; then
    rm -f -- "$fresh"
    printf 'FAILED to restore %s (%s): could not copy %s beside it\n' "$name" "$path" "$copy" >&2
    exit 1
  fi
  if [ -e "$path" ]; then
    owned=$(chown --reference="$path" -- "$fresh" 2>&1 && chmod --reference="$path" -- "$fresh" 2>&1)
  else
    owned=$(chown "$uid:$gid" -- "$fresh" 2>&1 && chmod "$mode" -- "$fresh" 2>&1)
  fi || { rm -f -- "$fresh"; printf 'FAILED to restore %s (%s): %s\n' "$name" "$path" "$owned" >&2; exit 1; }
  sync -- "$fresh"
  rm -f -- "$path-wal" "$path-shm" "$path-journal"
  mv -Tf -- "$fresh" "$path" || { rm -f -- "$fresh"; echo "FAILED to restore $name ($path)" >&2; exit 1; }
  printf 'restored %s (%s) from the snapshot of %s\n' "$name" "$path" "$taken"
done < "$manifest"
