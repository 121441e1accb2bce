# path-states CACHE [--read-only] PATH... [-- TREE... [-- DIR NAME...]]
#
# The state of every existing PATH, of everything under each TREE, and of every DIR/*/NAME, in
# four processes whatever their number (a no-op deploy reads a few hundred paths on every host,
# and what it costs a host is what a no-op costs):
#   S TYPE|MODE|USER|GROUP|PATH   for each (TYPE as find's %y says it: f, d, l, ...)
#   T TARGET                      after the S line of each symlink
#   H SHA256  PATH                for each regular file (sha256sum's own format)
# A path that does not exist prints nothing, nor does a name or link target holding a newline
# (the output is one path a line). Every PATH, TREE and DIR is absolute (find would read
# a leading "-" as an option).
# --read-only (verify, outside the deploy lock): the digest cache is read, never written; the
# files it lacks are digested from a private directory removed at the end.
set -u
nl='
'
# Digests: a regular file unchanged since the last read (same device, inode, size, mtime and
# ctime; ctime cannot be set back) keeps the digest cached for it in CACHE, and only new or
# changed files are read. Else a no-op deploy reads every managed byte again on every host
# (the wheelhouse, the uv binary: tens of MB each). The cache directory is root's alone, so
# the files beside the cache need no mktemp.
hashes=$1
shift
cache_dir=${hashes%/*}
# $work holds the lists of files to digest and the cache's next version.
if [ "${1-}" = --read-only ]; then
  shift
  read_only=yes work=$(mktemp -d) || exit 1
  trap 'rm -rf -- "$work"' EXIT
else
  read_only=no work=$cache_dir
  [ -d "$cache_dir" ] || mkdir -m 0700 -- "$cache_dir" || exit 1
fi

# $@ becomes the PATHs and the DIR/*/NAME found (read as they are); the TREEs are kept a line
# each in $trees (read with all below them).
section=paths trees='' dir=''
for arg do
  shift
  case $section in
    paths) if [ "$arg" = -- ]; then section=trees; else set -- "$@" "$arg"; fi ;;
    trees) if [ "$arg" = -- ]; then section=globs; else trees=$trees$arg$nl; fi ;;
    globs) if [ -z "$dir" ]; then dir=$arg; continue; fi
           for found in "$dir"/*/"$arg"; do set -- "$@" "$found"; done
           dir= ;;
  esac
done

# One record a path: "TYPE MODE USER GROUP KEY", the link's target (links only), the path.
records() {  # START... [-maxdepth 0]
  find "$@" \( -name "*$nl*" -o -lname "*$nl*" \) -prune \
    -o -type l -printf '%y %m %u %g -\n%l\n%p\n' \
    -o -printf '%y %m %u %g %D:%i:%s:%T@:%C@\n%p\n'
}
# Left by a run cut short: the cache is rewritten only when this run finds it must be.
[ ! -e "$work/fresh" ] || rm -f -- "$work/fresh" "$work/list" "$work/missing"
{
  [ $# -eq 0 ] || records "$@" -maxdepth 0
  set -f; IFS=$nl  # the TREEs a line each, never globbed
  # shellcheck disable=SC2086  # split on newlines on purpose
  [ -z "$trees" ] || records $trees
} 2>/dev/null | awk -v dir="$work" -v cache="$hashes" '
  BEGIN { while ((getline line < cache) > 0) { split(line, f, " "); known[f[1]] = f[2]; cached++ } }
  { type = $1; key = $5
    if (type == "l") getline target
    getline path
    print "S " type "|" $2 "|" $3 "|" $4 "|" path
    if (type == "l") print "T " target
    if (type != "f") next
    if (key in known) {
      print "H " known[key] "  " path
      if (!(key in kept)) { kept[key] = known[key]; hits++ }
    } else { print key "|" path > (dir "/missing"); print path > (dir "/list"); misses++ } }
  # Only when the cache is to change: the entries still in use, and the files to digest.
  END { if (!misses && hits == cached) exit
        for (key in kept) print key " " kept[key] > (dir "/fresh")
        printf "" > (dir "/fresh"); printf "" > (dir "/list"); printf "" > (dir "/missing") }'
[ -e "$work/fresh" ] || exit 0
# A file changed within the last two seconds is not cached: the kernel's clock for ctime is
# coarse, so a second change in the same tick could keep it ("racy" as git calls it). A name
# holding a backslash comes escaped from sha256sum, is printed so and is not cached.
tr '\n' '\0' < "$work/list" | xargs -0 -r sha256sum -- 2>/dev/null |
  awk -v missing="$work/missing" -v fresh="$work/fresh" -v now="$(date +%s)" '
    BEGIN { while ((getline line < missing) > 0) {
              i = index(line, "|"); key[substr(line, i + 1)] = substr(line, 1, i - 1) } }
    { print "H " $0; path = substr($0, 67)
      if (path in key) { split(key[path], id, ":")
        if (int(id[5]) < now - 2) print key[path] " " substr($0, 1, 64) >> fresh } }'
[ "$read_only" = yes ] || { mv -f -- "$work/fresh" "$hashes" && rm -f -- "$work/list" "$work/missing"; }
