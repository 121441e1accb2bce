# firehol-state APPLIED_DIGEST_FILE
#
# Whether the live rules drifted from what firehol last applied: the live rules' digest and
# the one recorded then (firehol.service's state is read with the host's other units).
set -u
echo "live=$(live_rules_digest)"
echo "applied=$(cat -- "$1" 2>/dev/null)"
