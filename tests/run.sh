#!/usr/bin/env bash
# The whole test suite from a fresh clone: install, start what the tests need, run.
# Extra arguments go to pytest (e.g. `bash tests/run.sh -m slow`). The static gates
# (tests/gates.sh: ruff, ruff format, mypy --strict, lint-imports) run first and stop the run
# when one fails; GOPHERPAY_SKIP_GATES=1 skips them for a quick local run (never in CI).
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'

# PostgreSQL is required (tests fail, never skip, without it): start the local
# cluster when it is installed but stopped.
if ! .venv/bin/python - <<'PY' 2>/dev/null
import psycopg
psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=3).close()
PY
then
  if [ -d /etc/postgresql ] && command -v pg_ctlcluster >/dev/null; then
    echo "starting PostgreSQL" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start || true
  else
    echo "PostgreSQL is not reachable at 127.0.0.1:5432 and not installed here; the tests that need it will fail" >&2
  fi
fi

if [ "${GOPHERPAY_SKIP_GATES:-}" != 1 ]; then
  bash tests/gates.sh
fi

status=0
.venv/bin/python -m pytest -n 2 --durations=15 "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests (exit 5): that is a failure, not a pass" >&2
fi
exit "$status"
