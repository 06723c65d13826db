#!/usr/bin/env bash
# ci/gpu-check.sh: builds facecl on a GPU machine, runs the tests and the op benchmark on the GPU's OpenCL driver.
# Usage: bash ci/gpu-check.sh [DEVICE-SELECTION]   (default: gpu). Writes logs to ${OUT:-/tmp/facecl-gpu}.
set -uo pipefail
cd "$(dirname "$0")/.."
SEL=${1:-gpu}
OUTDIR=${OUT:-/tmp/facecl-gpu}
mkdir -p "$OUTDIR"

# The NVIDIA driver ships its own ICD; PoCL stays as the CPU reference.
if ! ls /etc/OpenCL/vendors/*.icd >/dev/null 2>&1; then
  echo "gpu-check: no OpenCL ICD registered in /etc/OpenCL/vendors" | tee "$OUTDIR/summary.txt"
fi
bash ci/setup.sh > "$OUTDIR/setup.log" 2>&1 || { echo "gpu-check: setup/build failed"; tail -30 "$OUTDIR/setup.log"; exit 1; }

./build/facecl devices > "$OUTDIR/devices.txt" 2>&1
./build/facecl devices --device "$SEL" --check 2>&1 | tail -1 | tee "$OUTDIR/check.txt"

FACECL_TEST_DEVICE="$SEL" ctest --test-dir build --output-on-failure -j4 --timeout 600 > "$OUTDIR/ctest.log" 2>&1
rc=$?
tail -25 "$OUTDIR/ctest.log"
if ./build/facecl bench --help >/dev/null 2>&1; then
  timeout 300 ./build/facecl bench ops --device "$SEL" > "$OUTDIR/bench-ops.txt" 2>&1
  cat "$OUTDIR/bench-ops.txt"
fi
exit $rc
