# firehol-state APPLIED_DIGEST_FILE [SWITCH_DIR]
#
# Whether the live rules drifted from what firehol last applied: the live rules' digest and
# the one recorded then (firehol.service's state is read with the host's other units); with
# SWITCH_DIR, whether a revert is armed (new rules never confirmed): until when, as UTC.
set -u
echo "live=$(live_rules_digest)"
echo "applied=$(cat -- "$1" 2>/dev/null)"
if [ $# -ge 2 ] && [ -d "$(switch_stash "$2")" ]; then
  deadline=$(cat -- "$(switch_stash "$2")/deadline" 2>/dev/null)
  echo "armed=$(utc_time "$deadline" 2>/dev/null || echo "an unknown time")"
fi
