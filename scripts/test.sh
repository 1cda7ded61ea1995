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
# Three worker processes, each module whole on one (tests/conftest.py: xdist groups, longest first):
# on the 2-core machines two left the cores idle 12 % of the run, three 2 % (tests/README.md,
# session 25). `-n 0` after it runs it in one process, `-n 1` beside another checkout's run.
exec .venv/bin/python -m pytest -q -n 3 --dist loadgroup "$@"
