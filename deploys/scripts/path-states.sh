# path-states PATH... [-- TREE... [-- DIR NAME...]]
#
# One line per existing PATH, per file, directory and link under each TREE, and per DIR/*/NAME:
#   KIND MODE USER GROUP DIGEST PATH
# KIND f (DIGEST: sha256 of the content), d (DIGEST "-") or l (DIGEST: the link's target).
# A path that does not exist prints nothing. printf, not echo: dash's echo would rewrite
# backslashes in a name.
set -u
one() {
  if [ -L "$1" ]; then
    printf '%s\n' "l 0777 root root $(readlink -- "$1") $1"
  elif [ -d "$1" ]; then
    printf '%s\n' "d $(stat -c '%a %U %G' -- "$1") - $1"
  elif [ -f "$1" ]; then
    printf '%s\n' "f $(stat -c '%a %U %G' -- "$1") $(sha256sum < "$1" | cut -c1-64) $1"
  fi
}
while [ $# -gt 0 ] && [ "$1" != -- ]; do one "$1"; shift; done
[ $# -gt 0 ] && shift
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  [ ! -d "$1" ] || find "$1" -print | while IFS= read -r found; do one "$found"; done
  shift
done
[ $# -gt 0 ] && shift
while [ $# -gt 1 ]; do
  for found in "$1"/*/"$2"; do one "$found"; done
  shift 2
done
true
