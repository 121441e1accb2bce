# firehol-activate APPLIED_DIGEST_FILE
#
# Applies the rules through firehol.service, never by running `firehol start` beside it: an
# active unit is reloaded (its ExecReload is `firehol start`), so a failed start keeps the unit
# active with the rules firehol put back, where a restart would first run `firehol stop` and leave
# the host open; an inactive or failed unit (the package's own start fails at install, before
# /etc/default/firehol enables it) is started, which clears the failure. systemctl only points at
# the journal, so firehol's own words since the attempt are shown. Then records the digest of
# the rules now live (drift is measured against it) and enables the unit for the next boot.
set -u
applied=$1
since=$(date +%s)
if ! systemctl reload-or-restart firehol.service; then
  journalctl -u firehol.service --since "@$since" -o cat --no-pager >&2
  exit 1
fi
mkdir -p -- "$(dirname -- "$applied")" && live_rules_digest > "$applied" && systemctl enable --quiet firehol
