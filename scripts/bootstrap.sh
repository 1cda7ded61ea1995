#!/usr/bin/env bash
# Set up a fresh machine: bubblewrap (the sandbox), a venv with the CPU torch, the project.
# Idempotent: a second run only checks. Used by the README's commands and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null
  else
    echo "bubblewrap is missing: install it (e.g. 'sudo apt-get install bubblewrap')." >&2
    exit 1
  fi
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# torch first and pinned: an unpinned resolve pulls several GB of CUDA wheels.
.venv/bin/pip install -q --disable-pip-version-check "torch==2.13.0"
.venv/bin/pip install -q --disable-pip-version-check -e ".[test]"
