#!/bin/sh
# A first deploy onto bare machines, N times in a row (needs root; takes the sandbox down and up
# each time, so nothing of an earlier run is left on the machines):
#   AITBC_SRC=~/aitbc bench/first-deploys.sh [RUNS] [OUT_DIR]
# Each run is bench/first-deploy.sh (down, up, `aitbc-infra sandbox deploy`), then `aitbc-infra
# verify` of the sandbox's inventory (never the production one: it would reach real addresses).
# A run converges when the deploy passed with every health check 200 (the deploy gates each
# unit on it and prints the table); what verify refused is listed beside it. OUT_DIR (default
# build/first-deploys) keeps each run's deploy and verify output; a failed run also keeps the
# journal of every aitbc unit of every machine, for the cause. Exit 1 if any run failed.
set -u
cd "$(dirname "$0")/.."
runs=${1:-5} out=${2:-build/first-deploys}
case "$runs" in ''|*[!0-9]*|0) echo "first-deploys: RUNS is a number of runs (1 or more)" >&2; exit 2 ;; esac
rm -rf "$out" && mkdir -p "$out"
failed=0
journals() {  # RUN: every aitbc unit's journal of every machine of the sandbox
  for host in $(.venv/bin/aitbc-infra sandbox status 2>/dev/null | awk 'NR > 1 { print $1 }'); do
    .venv/bin/aitbc-infra sandbox ssh "$host" \
      "journalctl -q --no-pager -o short-monotonic -u 'aitbc-*'" >"$out/run-$1.journal-$host.txt" 2>&1
  done
}
for i in $(seq 1 "$runs"); do
  verdict=converged verified=""
  if ! bench/first-deploy.sh "$out/run-$i.figures" >/dev/null 2>&1; then
    verdict="FAILED (deploy)"
  elif ! .venv/bin/aitbc-infra verify --inventory .sandbox/inventory.py >"$out/run-$i.verify.txt" 2>&1; then
    # The deploy converged; what verify refused is named (with a real tree: routes it does
    # not answer as the data declares).
    verified="; verify: $(grep -c '^FAILED' "$out/run-$i.verify.txt") failed:"
    verified="$verified $(grep '^FAILED' "$out/run-$i.verify.txt" | sed 's/.*\[\(.*\)\]$/\1/' | paste -sd ';' -)"
  fi
  cp "$out/run-$i.figures.log" "$out/run-$i.deploy.txt" 2>/dev/null
  health=$(grep -cE ' 200$' "$out/run-$i.deploy.txt" 2>/dev/null)
  unhealthy=$(grep -cE ' FAIL$' "$out/run-$i.deploy.txt" 2>/dev/null)
  [ "${unhealthy:-0}" -eq 0 ] || verdict="FAILED (health)"
  case $verdict in FAILED*) failed=$((failed + 1)); journals "$i" ;; esac
  echo "run $i of $runs: $verdict; $(tail -n 1 "$out/run-$i.figures" 2>/dev/null); health checks 200: ${health:-0}$verified"
done
echo "$((runs - failed)) of $runs runs converged (${AITBC_SRC:-payload}); output in $out"
[ "$failed" -eq 0 ]
