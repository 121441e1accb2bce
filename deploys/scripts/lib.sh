# Prepended to every script of deploys/scripts (deploys/shell.py `script`).
# shellcheck disable=SC2034,SC2329  # not every script uses every name and function
#
# The names the scripts share with the deploy's Python (src/aitbc_infra/host_names.py,
# SCRIPT_ARGUMENTS) arrive as the first arguments; the script's own follow.
prev_suffix=$1 temp_suffix=$2 restart_mark=$3 candidate_infix=$4 releases_dir=$5 venv_link=$6 snapshot_dir=$7
shift 7

# A journal (JOURNAL_FILE) lists one written path a line; what the write replaced is kept
# under JOURNAL_FILE$prev_suffix/, at the path's own absolute path (no copy: the path did not
# exist). Never beside the path: a directory a service reads whole (nginx's sites-enabled/*)
# would load the copy as one more configuration file.

journal_copy() {  # JOURNAL_FILE PATH: where PATH's previous content is kept
  printf '%s' "$1$prev_suffix$2"
}

journal_paths() {  # JOURNAL_FILE: the listed paths, one a line
  [ ! -f "$1" ] || cat -- "$1"
}

journal_restore() {  # JOURNAL_FILE: every listed path gets its previous content back
  journal_paths "$1" | while IFS= read -r path; do
    copy=$(journal_copy "$1" "$path")
    if [ -e "$copy" ] || [ -L "$copy" ]; then
      mv -Tf -- "$copy" "$path"
    else
      rm -f -- "$path"
    fi
  done
  rm -rf -- "$1$prev_suffix"
  rm -f -- "$1"
}

journal_forget() {  # JOURNAL_FILE: the new files stay; the copies and the journal go
  rm -rf -- "$1$prev_suffix"
  rm -f -- "$1"
}

live_rules_digest() {  # the live iptables rules (both backends), packet counters left out
  { iptables-save; iptables-legacy-save; } 2>/dev/null | grep -v '^#' \
    | sed 's/\[[0-9]*:[0-9]*\]//' | sha256sum | cut -d' ' -f1
}

run_inline() {  # BODY NAME ARG...: another host script, its lib.sh and text handed over as BODY
  # (aitbc_infra/host_scripts.py `body`), with the shared names first as the caller got them.
  inline_body=$1 inline_name=$2
  shift 2
  sh -c "$inline_body" "$inline_name" "$prev_suffix" "$temp_suffix" "$restart_mark" \
    "$candidate_infix" "$releases_dir" "$venv_link" "$snapshot_dir" "$@"
}

# A release's data snapshot, SNAPSHOT_DIR = ROOT/releases/RELEASE/$snapshot_dir/ (taken by
# activate-release.sh as RELEASE stopped being live, put back by restore-data.sh): root's alone,
# holding NAME.KIND for each data file and this manifest, a line per file:
#   NAME KIND PATH TAKEN UID GID MODE
# TAKEN the UTC time the copy began (YYYY-MM-DDTHH:MM:SSZ); UID, GID and MODE (octal) the data
# file's then, for a file that is gone by the time it is restored.
snapshot_manifest() {  # SNAPSHOT_DIR
  printf '%s/manifest' "$1"
}
