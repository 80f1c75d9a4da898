#!/usr/bin/env bash
# One-time setup: system packages (when apt is available), npm dependencies,
# the native addon and the TypeScript build.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=()
dpkg -s libdnnl-dev >/dev/null 2>&1 || pkgs+=(libdnnl-dev)
dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || pkgs+=(dataset-fashion-mnist)
if [ ${#pkgs[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "setup: installing ${pkgs[*]} with apt-get"
    $SUDO apt-get update -q
    # the dataset is optional (the trainer says how to get data without it)
    $SUDO apt-get install -y -q libdnnl-dev || { echo "setup: could not install libdnnl-dev (oneDNN); install it and rerun" >&2; exit 1; }
    $SUDO apt-get install -y -q dataset-fashion-mnist || echo "setup: dataset-fashion-mnist not installed (optional)"
  else
    echo "setup: apt-get not found; install oneDNN (libdnnl) yourself if the build fails" >&2
  fi
fi

npm ci
npm run build
