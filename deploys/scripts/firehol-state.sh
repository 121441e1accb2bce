# firehol-state APPLIED_DIGEST_FILE
#
# What decides whether firehol must be applied, in one round trip: the live rules' digest, the
# one recorded when firehol last applied them, firehol.service's ActiveState and UnitFileState.
set -u
echo "live=$(live_rules_digest)"
echo "applied=$(cat -- "$1" 2>/dev/null)"
systemctl show -p ActiveState -p UnitFileState firehol.service
