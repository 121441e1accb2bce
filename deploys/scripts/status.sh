# status RELEASE_MARKER RECORD...
#
# One read of what `aitbc-infra status` shows for a host (aitbc_infra/status.py asks and parses
# it): each RECORD is a word and its arguments, answered by tab-separated lines that begin with
# a word of their own. Nothing on the host changes. A value read from the host (a link target,
# a response body, a log line) always ends its line, so a tab in it cannot shift a field.
#   app ROOT RECORD    live ROOT TARGET; release ROOT COMPLETE KIB MTIME NAME, one per release
#                      kept (MTIME: when it was last activated, or built: activate-release
#                      touches it); rollback ROOT LINE when the rollback record RECORD is there
#   unit UNIT          unit UNIT KEY=VALUE: its LoadState, ActiveState, SubState, UnitFileState
#   candidates         candidate ACTIVE UNIT: each candidate unit systemd still knows
#   cert LINEAGE FILE  cert LINEAGE notAfter=... (empty: no certificate there)
#   head UNIT URL      head UNIT BODY (empty: no answer within 2 s)
#   sync UNIT URL      sync UNIT BODY: a following node's sync status, as `head`
#   firewall CONF APPLIED_DIGEST_FILE SWITCH_DIR
#                      firewall conf|live|applied DIGEST; firewall armed DEADLINE (a revert
#                      armed: when it runs, in seconds since the epoch); firewall reverted TIME
#                      (the last revert, UTC, until an apply is confirmed again)
#   history LOG        history NUMBER LINE: the log's last line, if any
set -u
marker=$1
shift
printf 'now\t%s\n' "$(date +%s)"
while [ $# -gt 0 ]; do
  case $1 in
    app)
      printf 'live\t%s\t%s\n' "$2" "$(readlink -- "$2/$venv_link")"
      for release in "$2/$releases_dir"/*/; do
        [ -d "$release" ] || continue
        release=${release%/}
        complete=0
        [ ! -e "$release/$marker" ] || complete=1
        printf 'release\t%s\t%s\t%s\t%s\t%s\n' "$2" "$complete" \
          "$(du -sk -- "$release" 2>/dev/null | cut -f1)" \
          "$(stat -c %.9Y -- "$release" 2>/dev/null)" "${release##*/}"
      done
      [ ! -f "$3" ] || printf 'rollback\t%s\t%s\n' "$2" "$(head -n 1 -- "$3" | head -c 4096)"
      shift 3 ;;
    unit)
      systemctl show -p LoadState -p ActiveState -p SubState -p UnitFileState -- "$2" 2>/dev/null \
        | while IFS= read -r line; do printf 'unit\t%s\t%s\n' "$2" "$line"; done
      shift 2 ;;
    candidates)
      systemctl list-units --all --plain --no-legend --full -- "*$candidate_infix*" 2>/dev/null \
        | while read -r unit _ active _; do printf 'candidate\t%s\t%s\n' "$active" "$unit"; done
      shift ;;
    cert)
      printf 'cert\t%s\t%s\n' "$2" "$(openssl x509 -enddate -noout -in "$3" 2>/dev/null)"
      shift 3 ;;
    head)
      printf 'head\t%s\t%s\n' "$2" "$(curl -s -m 2 "$3" 2>/dev/null | head -c 4096 | tr -d '\n')"
      shift 3 ;;
    sync)
      printf 'sync\t%s\t%s\n' "$2" "$(curl -s -m 2 "$3" 2>/dev/null | head -c 16384 | tr -d '\n')"
      shift 3 ;;
    firewall)
      conf=
      [ ! -f "$2" ] || conf=$(sha256sum < "$2" | cut -d' ' -f1)
      printf 'firewall\tconf\t%s\n' "$conf"
      printf 'firewall\tlive\t%s\n' "$(live_rules_digest)"
      printf 'firewall\tapplied\t%s\n' "$(cat -- "$3" 2>/dev/null)"
      if [ -d "$(switch_stash "$4")" ]; then
        printf 'firewall\tarmed\t%s\n' "$(cat -- "$(switch_stash "$4")/deadline" 2>/dev/null)"
      fi
      if [ -f "$(switch_record "$4")" ]; then
        printf 'firewall\treverted\t%s\n' "$(head -c 64 -- "$(switch_record "$4")")"
      fi
      shift 4 ;;
    history)
      [ ! -f "$2" ] || awk 'END { if (NR) print "history\t" NR "\t" $0 }' "$2"
      shift 2 ;;
    *)
      echo "status: unknown record '$1'" >&2
      exit 2 ;;
  esac
done
exit 0
