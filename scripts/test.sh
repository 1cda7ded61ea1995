#!/usr/bin/env bash
# Set up a fresh machine and run the whole test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
WITH_CHROMIUM=1 ./scripts/bootstrap.sh
# The service tests talk to a real Redis on 127.0.0.1:6379: start one if none runs.
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  sleep 1
fi
# --quick: the tier for every edit (pure logic, storage, pages, protocol; tests/conftest.py says which).
exec .venv/bin/python -m pytest -q "$@"
