#!/usr/bin/env bash
# Build the two Vite SPAs (explorer-web, marketplace-web) into their dist/ directories.
# Idempotent and quick on re-run: `npm ci` only when node_modules is older than package-lock.json,
# `vite build` only when a source file is newer than dist/index.html. Only dist/ is deployed.
# Usage: payload/build-spas.sh [--force] [APP_DIR...]   (default: both SPAs next to this script)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
force=0
if [[ "${1:-}" == "--force" ]]; then force=1; shift; fi
apps=("$@")
if [[ ${#apps[@]} -eq 0 ]]; then apps=("$here/explorer-web" "$here/marketplace-web"); fi

command -v npm >/dev/null || { echo "build-spas: npm not found (need Node >= 20.19 for vite 7)" >&2; exit 1; }

for app in "${apps[@]}"; do
  app="$(cd "$app" && pwd)"
  name="$(basename "$app")"
  stamp="$app/node_modules/.package-lock.json"   # npm writes this on every install
  if [[ $force -eq 1 || ! -f "$stamp" || "$app/package-lock.json" -nt "$stamp" ]]; then
    echo "build-spas: $name: npm ci"
    (cd "$app" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  out="$app/dist/index.html"
  if [[ $force -eq 0 && -f "$out" ]] && [[ -z "$(find "$app/index.html" "$app/vite.config.js" \
      "$app/package.json" "$app/package-lock.json" "$app/src" \
      $( [[ -d "$app/public" ]] && echo "$app/public" ) -newer "$out" -print -quit)" ]]; then
    echo "build-spas: $name: dist/ is up to date"
    continue
  fi
  echo "build-spas: $name: vite build"
  (cd "$app" && npx --no-install vite build --logLevel warn)
  touch "$out"   # mark the build time even if vite left index.html byte-identical
done
