# journal-add JOURNAL_FILE PATH
#
# Run just before PATH is replaced or removed: lists PATH in the journal and keeps what it
# holds as PATH<prev_suffix>, once per transaction, so the copy is the last validated one.
set -u
journal=$1 path=$2
mkdir -p -- "$(dirname -- "$journal")"
grep -qxF -- "$path" "$journal" 2>/dev/null && exit 0
if [ -e "$path" ] || [ -L "$path" ]; then
  cp -a -- "$path" "$path$prev_suffix" || exit 1
fi
printf '%s\n' "$path" >> "$journal"
