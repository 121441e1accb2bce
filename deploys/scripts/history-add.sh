# history-add LOG KEEP MAX_BYTES
#
# Run by the deploy lock's command once the run's input ends (deploys/lock.py): the run sends
# its history line there (deploys/history.py), a line that says "interrupted" as its first
# operation starts and the final one at its end, so a run killed midway still leaves a line.
# The last whole line read becomes LOG's last line and only the last KEEP lines stay. The new
# log is written beside the old one and renamed over it: a reader sees the old log or the new
# one, never part of a line. No line read (a dry run, one that never started an operation and
# was killed): nothing changes. Nothing is printed but on failure: by then the run may be gone.
set -u
log=$1 keep=$2 max=$3
line=
while IFS= read -r next; do
  line=$next
done
[ -n "$line" ] || exit 0
if [ "${#line}" -gt "$max" ]; then
  echo "history-add: a line of ${#line} bytes (at most $max): not written" >&2
  exit 1
fi
case $line in
  "{"*"}") ;;
  *) echo "history-add: not a JSON object: not written" >&2; exit 1 ;;
esac
umask 022
mkdir -p -- "$(dirname -- "$log")" || exit 1
tmp=$log$temp_suffix
{
  # The last KEEP-1 lines, each ending in a newline (a line cut short by a crash included:
  # the new line must not be glued to it).
  if [ -e "$log" ]; then
    awk -v k="$((keep - 1))" 'k > 0 { l[NR % k] = $0 }
      END { for (i = (NR > k ? NR - k + 1 : 1); k > 0 && i <= NR; i++) print l[i % k] }' \
      "$log" || exit 1
  fi
  printf '%s\n' "$line"
} > "$tmp" || exit 1
mv -f -- "$tmp" "$log"
