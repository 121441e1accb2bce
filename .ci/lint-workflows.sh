#!/usr/bin/env bash
# Lint every GitHub Actions workflow with actionlint, which also runs ShellCheck on `run:` scripts
# when that is installed. actionlint comes from the project venv's `dev` extra; VENV names the
# venv (default: .venv at the repository root). Extra arguments go to actionlint.
# Exit non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
actionlint="${VENV:-.venv}/bin/actionlint"
if [ ! -x "$actionlint" ]; then
    echo "lint-workflows: $actionlint not found: pip install -e '.[dev]' into ${VENV:-.venv}" >&2
    exit 2
fi
shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
if [ ${#workflows[@]} -eq 0 ]; then
    echo "lint-workflows: no workflow under .github/workflows" >&2
    exit 2
fi
"$actionlint" -no-color "$@" "${workflows[@]}"
echo "lint-workflows: ${#workflows[@]} workflow(s) clean"
