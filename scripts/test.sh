#!/usr/bin/env bash
# Quickstart 2: set everything up (with test tools) and run the test suite.
# pytest's exit 5 ("no tests ran") is a failure here, not a pass.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test,demo || exit 1
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "no tests ran: failing" >&2
  exit 1
fi
exit "$rc"
