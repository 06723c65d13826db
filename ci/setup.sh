#!/usr/bin/env bash
# ci/setup.sh: installs facecl's Debian dependencies (idempotent) and configures + builds it in build/.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake pkg-config ocl-icd-opencl-dev opencl-headers ocl-icd-libopencl1
      pocl-opencl-icd libclblast-dev libpng-dev libjpeg62-turbo-dev libcriterion-dev clinfo)
# CI checks: oclgrind (ci/oclgrind.sh); pip downloads Intel's CPU OpenCL runtime (ci/intel-ocl.sh).
PKGS+=(oclgrind python3-pip)
# Data-parallel training and its tests (mpirun; facecl builds without them, single-process).
PKGS+=(openmpi-bin libopenmpi-dev)
# Plots (Cairo: PNG, SVG, PDF) and the font they name; safetensors headers are parsed by jansson.
PKGS+=(libcairo2-dev fonts-dejavu-core libjansson-dev)

missing=()
for p in "${PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "ci/setup.sh: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Intel's CPU OpenCL runtime as a second vendor for ci/test.sh; never fails (no network: skipped).
bash ci/intel-ocl.sh

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFACECL_WERROR=ON
cmake --build build -j"$(nproc)"
