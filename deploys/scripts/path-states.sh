# path-states PATH... [-- TREE... [-- DIR NAME...]]
#
# The state of every existing PATH, of everything under each TREE, and of every DIR/*/NAME, in
# a few processes whatever their number (a no-op deploy reads a few hundred paths):
#   S TYPE|MODE|USER|GROUP|PATH   for each (stat; TYPE as stat's %F says it)
#   H SHA256  PATH                for each regular file (sha256sum's own format)
#   L TARGET PATH                 for each symlink
# A path that does not exist prints nothing.
set -u
list=$(mktemp) || exit 1
trap 'rm -f -- "$list"' EXIT
exists() { [ -e "$1" ] || [ -L "$1" ]; }
{
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    if exists "$1"; then printf '%s\0' "$1"; fi
    shift
  done
  [ $# -gt 0 ] && shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    [ ! -d "$1" ] || find "$1" -print0
    shift
  done
  [ $# -gt 0 ] && shift
  while [ $# -gt 1 ]; do
    for found in "$1"/*/"$2"; do
      if exists "$found"; then printf '%s\0' "$found"; fi
    done
    shift 2
  done
} > "$list"
xargs -0 -r stat -c 'S %F|%a|%U|%G|%n' -- < "$list"
# Directories and links fail or follow here: only regular files' lines are read back.
xargs -0 -r sha256sum -- < "$list" 2>/dev/null | sed 's/^/H /'
tr '\0' '\n' < "$list" | while IFS= read -r found; do
  if [ -L "$found" ]; then printf 'L %s %s\n' "$(readlink -- "$found")" "$found"; fi
done
true
