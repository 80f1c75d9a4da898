#!/usr/bin/env bash
# Regenerates the golden files in test/fixtures/ with PyTorch (CPU).
# Python: $SENET_PYTHON, else a venv in .venv with torch, numpy, safetensors
# from the configured package index (never a runtime dependency of senet).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${SENET_PYTHON:-}" ]; then
  PY="$SENET_PYTHON"
else
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install --retries 0 torch numpy safetensors
  PY=.venv/bin/python
fi
exec "$PY" test/fixtures/make_fixtures.py "$@"
