# restore-data APP_ROOT RELEASE
#
# Restores the data snapshot kept with RELEASE (taken when RELEASE stopped being live) over the
# app's data files, printing first on stdout what writes it drops. Run while the app's units are
# stopped (`aitbc-infra rollback --restore-data`, deploys/scripts/rollback.sh).
# Exit status: 0 restored; 3 no snapshot kept with that release; 2 bad argument.
#
# A placeholder until data snapshots are taken before each cutover: none is ever kept yet, so
# it restores nothing and says so (exit 3).
set -u
[ $# -eq 2 ] || { echo "restore-data: refused: APP_ROOT RELEASE expected, got $# argument(s)" >&2; exit 2; }
root=$1 release=$2
case $root in /*) ;; *) echo "restore-data: refused app root (not absolute): $root" >&2; exit 2 ;; esac
case $release in
  ''|.|..|*[!A-Za-z0-9._-]*) echo "restore-data: refused release name: $release" >&2; exit 2 ;;
esac
echo "restore-data: no data snapshot kept with release $release of $root" >&2
exit 3
