#!/usr/bin/env bash
# The test command: set up, lint, type-check, then every test (slow ones included: the embedded
# Gemma model, training, and `tunebench demo --quick`). Offline: HF_HUB_OFFLINE=1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup.sh dev
# Debian's Chromium for the real-browser tests: they only look for it (Playwright drives it; never `playwright install`)
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi
fi
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
# one converted embedded model shared by every test workspace
export TUNEBENCH_MODELS="${TUNEBENCH_MODELS:-$PWD/.tunebench/models}"
.venv/bin/ruff check harness trainers reports dashboard tests
.venv/bin/ruff format --check harness
.venv/bin/mypy harness
# a throwaway PostgreSQL server: the store tests run on SQLite and on it (CI=true: a missing server fails
# them instead of skipping); stopped on exit, whatever the outcome
pg_env=$(bash .ci/postgres.sh start)
eval "$pg_env"
trap 'bash .ci/postgres.sh stop "$TUNEBENCH_TEST_PG_DIR"' EXIT
export CI="${CI:-true}"
.venv/bin/python -m pytest -q --run-slow -p no:cacheprovider --durations=12 "$@"
