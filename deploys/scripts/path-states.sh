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
# Digests: a regular file unchanged since the last read (same device, inode, size, mtime and
# ctime; ctime cannot be set back) keeps the digest cached for it in $hashes, and only new or
# changed files are read. Else a no-op deploy reads every managed byte again on every host
# (the wheelhouse, the uv binary: tens of MB each). A name holding a newline or a backslash is
# hashed every time, with sha256sum's own escaping.
hashes=/var/cache/aitbc-infra/path-hashes
plain=$(mktemp) && odd=$(mktemp) && missing=$(mktemp) && fresh=$(mktemp) || exit 1
trap 'rm -f -- "$list" "$plain" "$odd" "$missing" "$fresh"' EXIT
grep -zvP '[\n\\]' < "$list" > "$plain"
grep -zP '[\n\\]' < "$list" > "$odd"
xargs -0 -r stat -c '%F|%d:%i:%s:%.9Y:%.9Z|%n' -- < "$plain" 2>/dev/null |
  awk -F'|' -v cache="$hashes" -v missing="$missing" -v fresh="$fresh" '
    BEGIN { while ((getline line < cache) > 0) { split(line, f, " "); known[f[1]] = f[2] } }
    $1 !~ /^regular/ { next }
    { path = substr($0, length($1) + length($2) + 3)
      if ($2 in known) { print "H " known[$2] "  " path; print $2 " " known[$2] > fresh }
      else print $2 "|" path > missing }'
# A file changed within the last two seconds is not cached: the kernel's clock for ctime is
# coarse, so a second change in the same tick could keep it ("racy" as git calls it).
cut -d'|' -f2- "$missing" | tr '\n' '\0' | xargs -0 -r sha256sum -- 2>/dev/null |
  awk -v missing="$missing" -v fresh="$fresh" -v now="$(date +%s)" '
    BEGIN { while ((getline line < missing) > 0) {
              i = index(line, "|"); key[substr(line, i + 1)] = substr(line, 1, i - 1) } }
    { print "H " $0; path = substr($0, 67)
      if (path in key) { split(key[path], id, ":")
        if (int(id[5]) < now - 2) print key[path] " " substr($0, 1, 64) >> fresh } }'
# Directories and links fail or follow here: only regular files' lines are read back.
xargs -0 -r sha256sum -- < "$odd" 2>/dev/null | sed 's/^/H /'
if ! cmp -s -- "$fresh" "$hashes"; then
  { [ -d "${hashes%/*}" ] || mkdir -m 0700 -- "${hashes%/*}"; } &&
    cat -- "$fresh" > "$hashes.tmp" && mv -f -- "$hashes.tmp" "$hashes"
fi
tr '\0' '\n' < "$list" | while IFS= read -r found; do
  if [ -L "$found" ]; then printf 'L %s %s\n' "$(readlink -- "$found")" "$found"; fi
done
true
