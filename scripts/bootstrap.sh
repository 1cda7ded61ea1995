#!/usr/bin/env bash
# Set up a fresh machine: bubblewrap (the sandbox), a venv with the CPU torch, the project.
# Idempotent: a second run only checks. Used by the README's commands and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: bubblewrap (the sandbox) and, for the browser test, Debian's chromium.
missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
if [ "${WITH_CHROMIUM:-0}" = 1 ] && ! command -v chromium >/dev/null 2>&1; then missing+=(chromium); fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "missing system packages: ${missing[*]} (install them with apt-get)." >&2
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
