#!/usr/bin/env bash
# The static gates, run before the tests by tests/run.sh (and so by .ci/run): lint, formatting,
# strict types and the import layers. Any failure stops the run with that gate's exit code.
# Run alone: `bash tests/gates.sh` (needs the dev extra in .venv).
set -uo pipefail
cd "$(dirname "$0")/.."

gate() {
  local name=$1
  shift
  echo "gate: $name" >&2
  "$@"
  local status=$?
  if [ "$status" -ne 0 ]; then
    echo "gate failed: $name (exit $status): $*" >&2
    exit "$status"
  fi
}

gate "ruff check" .venv/bin/ruff check .
gate "ruff format" .venv/bin/ruff format --check .
gate "mypy --strict" .venv/bin/mypy --strict
gate "lint-imports" .venv/bin/lint-imports
