#!/usr/bin/env bash
# senet against timm on full-size SE-ResNet / SE-ResNeXt (npm run test:timm).
#
# Python: $SENET_PYTHON if set, else the gitignored venv .venv (shared with
# `npm run fixtures`), created and given torch, timm, numpy and safetensors
# once, from the configured package index (never a runtime dependency of
# senet). Extra arguments go to scripts/timm_fidelity.py (--size, --archs,
# --seed, --keep DIR); see its docstring for what is compared.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${SENET_PYTHON:-}" ]; then
  PY="$SENET_PYTHON"
else
  PY=.venv/bin/python
  [ -x "$PY" ] || python3 -m venv .venv
  # Installs only when something is missing (the import of timm itself can
  # fail for a torchvision reason that timm_env.py repairs, so test by spec).
  if ! "$PY" -c 'import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in ("torch", "timm", "numpy", "safetensors")))'; then
    "$PY" -m pip install --retries 0 torch timm numpy safetensors
  fi
fi
if [ "${1:-}" = "--fixtures" ]; then
  shift
  exec "$PY" test/fixtures/make_timm_fixtures.py "$@"
fi
exec "$PY" scripts/timm_fidelity.py "$@"
