#!/bin/sh
# The first deploy onto bare machines, as one command for a timer (needs root; takes the
# sandbox down and up, so nothing of an earlier deploy is left):
#   farm-bench -n 3 --timeout 600 -- bench/first-deploy.sh [FIGURES_FILE]
# The whole command is down + up (machines booted, bare) + `aitbc-infra sandbox deploy`; the
# deploy's own seconds are appended to FIGURES_FILE (default: build/first-deploy.txt). The
# control machine's caches (wheelhouse, SPA builds) are what the previous run left: run it once
# first for the figure of a warm control machine.
set -eu
cd "$(dirname "$0")/.."
figures=${1:-build/first-deploy.txt}
mkdir -p "$(dirname "$figures")"
.venv/bin/aitbc-infra sandbox down >/dev/null
# In a session of its own: the machines outlive this command (a timer ends what the command's
# process group leaves running), so the sandbox stays up and deployed.
setsid -w .venv/bin/aitbc-infra sandbox up >/dev/null
start=$(date +%s.%N)
.venv/bin/aitbc-infra sandbox deploy >"$figures.log" 2>&1 || { echo "deploy FAILED (see $figures.log)" >>"$figures"; exit 1; }
end=$(date +%s.%N)
echo "deploy $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s" >>"$figures"
