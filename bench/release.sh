#!/bin/sh
# One app's restart through candidate, cutover and gate, timed whole: each run flips the wallet
# daemon's WALLET_NAME between two values (its env file changes, nothing else), then deploys
# with the code of CHECKOUT (default: this checkout) onto the deployed sandbox. Two versions of
# the deploy, paired on one sandbox (their renders must otherwise agree):
#   farm-bench -n 7 --vs "bench/release.sh /path/to/other/checkout" -- bench/release.sh
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
checkout=$(cd "${1:-$here}" && pwd)
variant=$here/build/release-bench
mkdir -p "$variant/group_data"
cp "$here/.sandbox/inventory.py" "$variant/inventory.py"
# Alternating values, shared by both checkouts: each run changes the env file once.
if [ "$(cat "$variant/last" 2>/dev/null)" = a ]; then value=b; else value=a; fi
echo "$value" >"$variant/last"
sed "s/\"env\": {\"LEDGER_DB_PATH\": /\"env\": {\"WALLET_NAME\": \"bench-$value\", \"LEDGER_DB_PATH\": /" \
  "$checkout/group_data/aitbc_container.py" >"$variant/group_data/aitbc_container.py"
grep -q "bench-$value" "$variant/group_data/aitbc_container.py"
# The checkout's own code and `deploys` package first (this venv installs this checkout's).
cd "$checkout"
PYTHONPATH=$checkout/src:$checkout "$here/.venv/bin/pyinfra" -y --json "$variant/inventory.py" \
  "$checkout/deploys/site.py" >"$variant/run-$value.json" 2>"$variant/run-$value.log"
