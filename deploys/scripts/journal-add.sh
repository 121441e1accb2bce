# journal-add JOURNAL_FILE PATH
#
# Run just before PATH is replaced or removed: lists PATH in the journal and keeps what it
# holds (lib.sh: journal_copy), once per transaction, so the copy is the last validated one.
set -u
journal=$1 path=$2
mkdir -p -- "$(dirname -- "$journal")"
grep -qxF -- "$path" "$journal" 2>/dev/null && exit 0
if [ -e "$path" ] || [ -L "$path" ]; then
  copy=$(journal_copy "$journal" "$path")
  mkdir -p -- "$(dirname -- "$copy")" && cp -a -- "$path" "$copy" || exit 1
fi
printf '%s\n' "$path" >> "$journal"
