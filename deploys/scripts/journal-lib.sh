# Functions of a journal (see deploys/journal.py), prepended to the scripts that use them.
# JOURNAL_FILE lists one written path a line; PATH.aitbc-prev is what the write replaced (no
# copy: the path did not exist).

journal_paths() {  # JOURNAL_FILE: the listed paths, one a line
  [ ! -f "$1" ] || cat -- "$1"
}

journal_restore() {  # JOURNAL_FILE: every listed path gets its previous content back
  journal_paths "$1" | while IFS= read -r path; do
    if [ -e "$path.aitbc-prev" ] || [ -L "$path.aitbc-prev" ]; then
      mv -Tf -- "$path.aitbc-prev" "$path"
    else
      rm -f -- "$path"
    fi
  done
  rm -f -- "$1"
}

journal_forget() {  # JOURNAL_FILE: the new files stay; the copies and the journal go
  journal_paths "$1" | while IFS= read -r path; do rm -f -- "$path.aitbc-prev"; done
  rm -f -- "$1"
}
