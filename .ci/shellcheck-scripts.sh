#!/usr/bin/env bash
# ShellCheck each host script as the deploy runs it: deploys/scripts/lib.sh, then the script
# (deploys/journal.py `script`). A script's own file-wide `# shellcheck disable=` line is
# moved to the top, where it applies to the whole. Line numbers count from there.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for script in deploys/scripts/*.sh; do
  [ "$script" = deploys/scripts/lib.sh ] && continue
  if ! { grep '^# shellcheck disable=' "$script" | head -n 1; cat deploys/scripts/lib.sh "$script"; } \
      | "${SHELLCHECK:-.venv/bin/shellcheck}" -s sh -; then
    echo "ShellCheck: the findings above are in lib.sh + $script" >&2
    status=1
  fi
done
exit "$status"
