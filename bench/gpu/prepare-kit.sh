#!/usr/bin/env bash
# Prepares everything the GPU machine needs for `npm run test:gpu` and
# `npm run bench:gpu` (the device kit, ../shared/device/README.md):
#   1. the shared kit (../shared/device/prepare.sh): .device/ with node, npm,
#      a runtime node_modules and on-device.sh;
#   2. its runtime node_modules repacked with only the production
#      dependencies, ava and tsx (the tests and bench:gpu run TypeScript
#      through tsx; 12 MB instead of 43);
#   3. the CUDA addon in build-cuda/ (SENET_CUDA=1, cuDNN/cuBLAS from the
#      Python wheels in /opt/nvwheels; on the GPU machine the libraries of its
#      PyTorch are found through LD_LIBRARY_PATH, set by on-device.sh).
# Then send .device/ and build-cuda/ with the tree and run, on the GPU machine:
#   bash .device/on-device.sh npm run test:gpu
#   bash .device/on-device.sh npm run bench:gpu
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
bash ../shared/device/prepare.sh

# The runtime node_modules: production dependencies, ava and tsx (the tests
# and bench:gpu run TypeScript through tsx). The shared kit's second
# `npm install` brings every devDependency along (tfjs...: 43 MB packed); this
# one is about 12 MB, so .device/ and build-cuda/Release/senet.node fit in a
# 64 MiB carry.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
node -e "
  const p = require('./package.json'); const d = p.devDependencies;
  p.devDependencies = { ava: d.ava, tsx: d.tsx }; delete p.scripts;
  require('fs').writeFileSync('$work/package.json', JSON.stringify(p, null, 2));"
( cd "$work" && npm install --ignore-scripts --no-audit --no-fund --no-package-lock >/dev/null )
for m in ava tsx esbuild; do [ -f "$work/node_modules/$m/package.json" ] || { echo "prepare-kit: $m missing" >&2; exit 1; }; done
tar -cf - -C "$work" node_modules | xz -T0 -6 > .device/rt.tar.xz
echo "prepare-kit: .device/rt.tar.xz = production dependencies + ava + tsx"

if [ ! -f build-cuda/Release/senet.node ] || [ "${SENET_REBUILD:-0}" = 1 ]; then
  if [ ! -f /opt/nvwheels/nvidia/cudnn/include/cudnn.h ] || [ ! -f /opt/nvwheels/nvidia/cu13/include/cublas_v2.h ]; then
    python3 -m pip install --retries 0 --no-deps --target /opt/nvwheels nvidia-cudnn-cu13 nvidia-cublas
  fi
  SENET_CUDA=1 CUDNN_ROOT=/opt/nvwheels/nvidia/cudnn CUBLAS_ROOT=/opt/nvwheels/nvidia/cu13 \
    npx cmake-js compile --out build-cuda
fi
du -sh .device build-cuda/Release/senet.node
