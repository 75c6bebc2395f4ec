#!/usr/bin/env bash
# Quickstart 1: set everything up, then generate the sample title, deliver it and run
# the whole per-title graph on the embedded default (artifacts + Dagster in ./.prism).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh demo
exec .venv/bin/prism demo "$@"
