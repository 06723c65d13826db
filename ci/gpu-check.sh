#!/usr/bin/env bash
# ci/gpu-check.sh: checks a facecl bundle (ci/gpu-bundle.sh) on a GPU machine where nothing can be installed.
#
# Usage: bash gpu-check.sh BUNDLE [VENDOR]
#   BUNDLE   the folder ci/gpu-bundle.sh made
#   VENDOR   optional: the vendor's OpenCL library (a .so) or an ICD file (.icd) to use; default:
#            found on the machine (NVIDIA's libnvidia-opencl.so.1 under /usr/local/nvidia/lib64,
#            /usr/lib/x86_64-linux-gnu, ...; AMD's libamdocl64.so; Intel's libigdrcl.so; or the
#            ICD files in /etc/OpenCL/vendors)
# Environment: FACECL_GPU_DEVICE (default gpu: the --device selection), FACECL_GPU_OUT (default
# /tmp/facecl-gpu: logs and report.txt), FACECL_GPU_BUDGET (default 470 s for everything, under 8 minutes),
# FACECL_GPU_SCALE (default 1: multiplies each step's limit, for a dry run on a CPU device),
# FACECL_GPU_SIZE / FACECL_GPU_BATCH (default 112 / 64: the network benchmarks' input and batch),
# FACECL_PYTHON (default: the first of python3, /usr/bin/python3 that imports torch).
#
# No apt-get, no network, no build: LD_LIBRARY_PATH is the bundle's lib/ only; the vendor library is
# registered through a private vendors folder (OCL_ICD_VENDORS) for the bundle's ICD loader. Steps,
# each under a time limit that also keeps the whole inside the budget: `facecl devices --check`,
# the test suite on the device (ctest, or the binaries one by one where ctest is missing),
# `facecl bench ops`, `facecl bench net` for ResNet-18 and MobileNetV2 at 112x112 batch 64, and
# PyTorch on the same networks (tools/torch_bench.py --device cuda; on a machine without CUDA the
# CPU stands in, and the report says so). Writes report.txt (steps, test summary, images/s and the
# facecl / PyTorch ratios) and prints it. Exit status: non-zero when the device check or a test failed.
set -uo pipefail
BUNDLE=${1:?usage: bash gpu-check.sh BUNDLE [VENDOR-LIBRARY-or-ICD]}
BUNDLE=$(cd "$BUNDLE" && pwd) || exit 2
VENDOR=${2:-}
SEL=${FACECL_GPU_DEVICE:-gpu}
OUTDIR=${FACECL_GPU_OUT:-/tmp/facecl-gpu}
BUDGET=${FACECL_GPU_BUDGET:-470}
SCALE=${FACECL_GPU_SCALE:-1}      # multiplies every step's limit (a dry run on a slow CPU device)
NSIZE=${FACECL_GPU_SIZE:-112}     # network benchmarks' input size and batch (smaller for a CPU dry run)
NBATCH=${FACECL_GPU_BATCH:-64}
STAGE=$(awk '$1 == "stage" {print $2}' "$BUNDLE/MANIFEST")
T0=$(date +%s)
mkdir -p "$OUTDIR"
REPORT=$OUTDIR/report.txt
: > "$REPORT"
note() { echo "$*" | tee -a "$REPORT"; }

# --- the bundle, at the paths compiled into it ---------------------------------------------------
[ -n "$STAGE" ] && [ -x "$BUNDLE/build/facecl" ] || { echo "gpu-check: $BUNDLE is not a facecl bundle"; exit 2; }
mkdir -p "$STAGE"
for d in src build; do
  if [ -e "$STAGE/$d" ] && [ ! -L "$STAGE/$d" ]; then
    echo "gpu-check: $STAGE/$d exists and is not a link (a build on this machine?): move it away"; exit 2
  fi
  ln -sfn "$BUNDLE/$d" "$STAGE/$d"
done
export LD_LIBRARY_PATH="$BUNDLE/lib"
export FACECL_MODELS="$BUNDLE/src/models"
export FACECL_CACHE_DIR="$OUTDIR/cache"
FACECL="$BUNDLE/build/facecl"

# --- the vendor's OpenCL library, through a private vendors folder --------------------------------
VENDORS=$OUTDIR/vendors
rm -rf "$VENDORS"
mkdir -p "$VENDORS"
add_lib() { [ -f "$1" ] && echo "$1" > "$VENDORS/$(basename "$1" | sed 's/\.so.*//').icd"; }
if [ -n "$VENDOR" ]; then
  case $VENDOR in
    *.icd) cp "$VENDOR" "$VENDORS/" ;;
    *) add_lib "$VENDOR" || { echo "gpu-check: no such library: $VENDOR"; exit 2; } ;;
  esac
else
  for name in libnvidia-opencl.so.1 libamdocl64.so libigdrcl.so; do
    for dir in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib \
               /lib/x86_64-linux-gnu /usr/local/cuda/lib64 /usr/local/cuda/compat /opt/rocm/lib \
               /usr/lib/x86_64-linux-gnu/intel-opencl; do
      if [ -f "$dir/$name" ]; then add_lib "$dir/$name"; break; fi
    done
    [ -f "$VENDORS/${name%%.so*}.icd" ] && continue
    found=$(ldconfig -p 2>/dev/null | awk -v n="$name" '$1 == n {print $NF; exit}')
    [ -n "$found" ] && add_lib "$found"
  done
  # ICD files the machine already has (their library names resolve through the system paths).
  for f in /etc/OpenCL/vendors/*.icd; do [ -f "$f" ] && cp -n "$f" "$VENDORS/"; done
fi
export OCL_ICD_VENDORS="$VENDORS"
note "facecl GPU check, $(date -u +%FT%TZ) on $(uname -n)"
note "bundle    $BUNDLE ($(awk '$1 == "source" {$1=""; print}' "$BUNDLE/MANIFEST" | sed 's/^ //'))"
note "vendors   $(for f in "$VENDORS"/*.icd; do [ -f "$f" ] && printf '%s ' "$(cat "$f")"; done)"
if ! ls "$VENDORS"/*.icd >/dev/null 2>&1; then
  note "FAILED: no OpenCL vendor library found (give its path: bash gpu-check.sh BUNDLE /path/libnvidia-opencl.so.1)"
  exit 1
fi

# step NAME SECONDS CMD...: runs CMD with its output in $OUTDIR/NAME.log, under the smaller of SECONDS
# and what is left of the budget; records "NAME: ok|FAILED (exit N)|TIMEOUT after S s".
declare -A RESULT
step() {
  local name=$1 limit=$(($2 * SCALE)); shift 2
  local left=$((BUDGET - ($(date +%s) - T0)))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 5 ]; then RESULT[$name]="skipped (budget spent)"; note "step $name: skipped, budget spent"; return 1; fi
  local s=$(date +%s) rc
  timeout -k 5 "$limit" "$@" > "$OUTDIR/$name.log" 2>&1
  rc=$?
  local took=$(( $(date +%s) - s ))
  case $rc in
    0) RESULT[$name]="ok" ;;
    124|137) RESULT[$name]="TIMEOUT after ${limit} s" ;;
    *) RESULT[$name]="FAILED (exit $rc)" ;;
  esac
  note "step $name: ${RESULT[$name]}, $took s"
  return $rc
}

rc=0
"$FACECL" devices > "$OUTDIR/devices.txt" 2>&1
step check 45 "$FACECL" devices --device "$SEL" --check || rc=1
note "device    $(grep -m1 '^selected' "$OUTDIR/check.log" | sed 's/^selected ([^)]*): //')"
note "check     $(grep -m1 '^check:' "$OUTDIR/check.log" || tail -2 "$OUTDIR/check.log")"
if [ "$rc" -ne 0 ]; then
  cat "$OUTDIR/devices.txt" "$OUTDIR/check.log"
  note "FAILED: no working OpenCL device '$SEL' (FACECL_GPU_DEVICE selects another)"
  exit 1
fi
export FACECL_TEST_DEVICE="$SEL"

# --- the test suite on the device ------------------------------------------------------------------
run_tests_plain() {   # where ctest is missing: every test binary, a summary in ctest's words
  local n=0 failed=() t
  for t in "$STAGE"/build/test_*; do
    n=$((n + 1))
    echo "--- $(basename "$t")"
    (cd "$STAGE/build" && FACECL_CACHE_DIR="$STAGE/build/test-cache" timeout 300 "$t" --jobs 1) || failed+=("$(basename "$t")")
  done
  echo "$(( (n - ${#failed[@]}) * 100 / (n > 0 ? n : 1) ))% tests passed, ${#failed[@]} tests failed out of $n"
  [ ${#failed[@]} -eq 0 ] || { printf 'The following tests FAILED:\n'; printf '\t%s\n' "${failed[@]}"; return 1; }
}
if command -v ctest >/dev/null; then
  step tests 210 ctest --test-dir "$STAGE/build" --output-on-failure -j4 --timeout 240 || rc=1
else
  export STAGE
  step tests 210 bash -c "$(declare -f run_tests_plain); run_tests_plain" || rc=1
fi
note "tests     $(grep -m1 'tests passed' "$OUTDIR/tests.log" || echo "no summary (${RESULT[tests]})")"
grep -A40 'tests FAILED' "$OUTDIR/tests.log" | sed 's/^/          /' | tee -a "$REPORT"

# --- speed: ops, networks, PyTorch -----------------------------------------------------------------
step bench-ops 45 "$FACECL" bench ops --device "$SEL" --reps 3
PY=${FACECL_PYTHON:-}
if [ -z "$PY" ]; then
  for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import torch, torchvision' 2>/dev/null; then PY=$p; break; fi
  done
fi
TDEV=cuda
if [ -n "$PY" ] && ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  TDEV=cpu
fi
for net in resnet18 mobilenet_v2; do
  step "net-$net" 55 "$FACECL" bench net --model "$net" --size "$NSIZE" --batch "$NBATCH" --reps 3 --device "$SEL"
  if [ -n "$PY" ]; then
    step "torch-$net" 40 "$PY" "$BUNDLE/src/tools/torch_bench.py" --model "$net" --size "$NSIZE" --batch "$NBATCH" --reps 3 \
         --device "$TDEV"
  fi
done

note ""
note "speed at ${NSIZE}x${NSIZE}, batch $NBATCH (images/s; median of 3 after warm-up)"
note "$(printf '%-14s %10s %10s %10s %10s %8s %8s' network facecl-tr torch-tr facecl-inf torch-inf ratio-tr ratio-inf)"
for net in resnet18 mobilenet_v2; do
  ft=$(awk '/facecl  train/ {print $3}' "$OUTDIR/net-$net.log" 2>/dev/null)
  fi=$(awk '/facecl  infer/ {print $3}' "$OUTDIR/net-$net.log" 2>/dev/null)
  tt=$(sed -n 's/.*torch train_img_s=\([0-9.]*\).*/\1/p' "$OUTDIR/torch-$net.log" 2>/dev/null)
  ti=$(sed -n 's/.*infer_img_s=\([0-9.]*\).*/\1/p' "$OUTDIR/torch-$net.log" 2>/dev/null)
  rt=$( [ -n "$ft" ] && [ -n "$tt" ] && awk -v a="$ft" -v b="$tt" 'BEGIN {printf "%.2f", a / b}' || echo -)
  ri=$( [ -n "$fi" ] && [ -n "$ti" ] && awk -v a="$fi" -v b="$ti" 'BEGIN {printf "%.2f", a / b}' || echo -)
  note "$(printf '%-14s %10s %10s %10s %10s %8s %8s' "$net" "${ft:--}" "${tt:--}" "${fi:--}" "${ti:--}" "$rt" "$ri")"
done
if [ -z "$PY" ]; then
  note "PyTorch: not found (no python3 that imports torch and torchvision)"
else
  note "PyTorch: $(grep -ho 'version=.*' "$OUTDIR"/torch-*.log 2>/dev/null | head -1)$([ "$TDEV" = cpu ] && echo '  [NO CUDA: PyTorch ran on the CPU as a stand-in]')"
fi
note "bench ops: $(grep -c . "$OUTDIR/bench-ops.log" 2>/dev/null) lines in $OUTDIR/bench-ops.log"
note "total     $(( $(date +%s) - T0 )) s of a ${BUDGET} s budget; logs in $OUTDIR"
[ "$rc" -eq 0 ] && note "RESULT    ok" || note "RESULT    FAILED"
tail -4 "$OUTDIR/tests.log"
exit $rc
