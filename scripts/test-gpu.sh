#!/usr/bin/env bash
# The GPU test suite: the op and module tests on cuda:0 (SENET_TEST_DEVICES),
# the host checks of the CUDA kernels, and the SE-ResNeXt training smoke test
# (test/cuda_train.test.ts). Needs the CUDA addon: build-cuda/Release/senet.node
# (built here when missing: SENET_CUDA=1 cmake-js compile --out build-cuda),
# loaded through SENET_ADDON so the CPU build in build/ stays as it is.
#
#   npm run test:gpu                      # the per-device op tests + CUDA tests on cuda:0
#   npm run test:gpu -- --all             # the whole suite (CPU-only files too)
#   SENET_TEST_DEVICES=cpu,cuda:0 npm run test:gpu
#   npm run test:gpu -- test/se.test.ts   # some files (ava arguments pass through)
#
# On the GPU machine of the device kit: bash .device/on-device.sh npm run test:gpu
# (SENET_GPU_DRY_RUN=1 skips the GPU check: to try the script's plumbing on a CPU machine.)
set -euo pipefail
cd "$(dirname "$0")/.."

addon="${SENET_ADDON:-build-cuda/Release/senet.node}"
if [ ! -f "$addon" ]; then
  if ! command -v cmake >/dev/null || ! [ -x node_modules/.bin/cmake-js ]; then
    echo "test-gpu: $addon is missing and cmake-js/cmake are not available to build it." >&2
    echo "  Build it where they are: SENET_CUDA=1 npx cmake-js compile --out build-cuda" >&2
    exit 1
  fi
  echo "test-gpu: building the CUDA addon (SENET_CUDA=1 cmake-js compile --out build-cuda)"
  SENET_CUDA=1 npx cmake-js compile --out build-cuda
fi
export SENET_ADDON="$addon"

# tsx runs the TypeScript tests (ava.config.js); the device kit's runtime
# node_modules must have it.
if ! node -e "require.resolve('tsx')" >/dev/null 2>&1; then
  echo "test-gpu: the 'tsx' package is missing from node_modules (ava.config.js needs it)." >&2
  echo "  With the device kit: add tsx next to ava in .device/rt (see ../shared/device/prepare.sh)." >&2
  exit 1
fi

node --input-type=module -e "
  const { createRequire } = await import('node:module');
  const { resolve } = await import('node:path');
  const a = createRequire(process.cwd() + '/')(resolve(process.env.SENET_ADDON));
  const i = a.info();
  console.log('test-gpu: senet ' + i.version + ', devices ' + i.devices.join(', ') + (i.cudaDevices ? ' (' + i.cudaDevices.join(', ') + ')' : ''));
  if (i.cudaLibraries) console.log('test-gpu: ' + i.cudaLibraries);
  if (!i.cuda) { console.error('test-gpu: ' + process.env.SENET_ADDON + ' is not a CUDA build'); process.exit(1); }
  if (!i.devices.includes('cuda:0') && process.env.SENET_GPU_DRY_RUN !== '1') { console.error('test-gpu: no CUDA device: ' + (i.cudaUnavailable ?? '?')); process.exit(1); }
"

export SENET_TEST_DEVICES="${SENET_TEST_DEVICES:-cuda:0}"
args=()
all=0
for a in "$@"; do
  if [ "$a" = "--all" ]; then all=1; else args+=("$a"); fi
done
files=()
has_files=0
for a in "${args[@]+"${args[@]}"}"; do case "$a" in *.ts) has_files=1 ;; esac; done
if [ $all = 0 ] && [ $has_files = 0 ]; then
  # The files whose tests run per device, and the CUDA-specific ones.
  files=(test/tensor.test.ts test/conv.test.ts test/batchnorm.test.ts test/pool.test.ts test/linear.test.ts
         test/eltwise.test.ts test/loss.test.ts test/sgd.test.ts test/se.test.ts test/pad.test.ts
         test/golden.test.ts test/timm.test.ts test/cuda_host.test.ts test/cuda_train.test.ts)
fi
echo "test-gpu: SENET_TEST_DEVICES=$SENET_TEST_DEVICES SENET_ADDON=$SENET_ADDON"
exec npx ava "${files[@]+"${files[@]}"}" "${args[@]+"${args[@]}"}"
