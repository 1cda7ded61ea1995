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
# Two worker processes, each module whole on one (tests/conftest.py: xdist groups, longest first):
# 1 292 s against 1 790 s serial on the 2-core machines (tests/README.md). `-n 0` runs it in one.
exec .venv/bin/python -m pytest -q -n 2 --dist loadgroup "$@"
