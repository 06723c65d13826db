#!/usr/bin/env bash
# ci/oclgrind.sh: runs the op harness (tests/test_ops_*) on oclgrind's simulated device; fails on any report.
#
# Usage: bash ci/oclgrind.sh [--uninitialized] [BUILD-DIR] [TEST-NAME...]
#   default: build/ and every build/test_ops_* binary; e.g. `bash ci/oclgrind.sh build test_ops_bn`
#
# Checks (oclgrind 21.10, Debian's `oclgrind`): out-of-bounds reads/writes (always on), data races
# between work-items and work-groups (--data-races), OpenCL API misuse (--check-api), barrier
# divergence. Any such report in a binary's output, or a failing test, fails the script; every
# report is printed with the kernel and source line oclgrind names.
# Small shapes: the op tests' shapes are already small (odd sizes of tens to a few thousand
# elements), except two tests that repeat kernels covered at small shapes by others; those are left
# out here with Criterion's --filter (table SKIP below), so no test source needs a "small" switch.
# --uninitialized adds oclgrind's uninitialised-value plugin. With 21.10 it crashes the simulated
# kernels (SIGSEGV at the first kernel of tests/test_ops_bn.c, no report) and reports through vector
# splats, so its findings are leads to read, not verdicts: in that mode reports and crashes are
# listed but only a crash-free, report-free run counts as clean, and CI does not run it.
set -uo pipefail
cd "$(dirname "$0")/.."

UNINIT=0
if [ "${1:-}" = "--uninitialized" ]; then UNINIT=1; shift; fi
B=${1:-build}
[ $# -gt 0 ] && shift
if ! command -v oclgrind >/dev/null; then
  echo "ci/oclgrind.sh: FAILED: oclgrind is not installed (apt-get install oclgrind; ci/setup.sh does)"
  exit 1
fi
if [ $# -gt 0 ]; then TESTS=("$@"); else
  TESTS=(); for t in "$B"/test_ops_*; do [ -x "$t" ] && TESTS+=("$(basename "$t")"); done
fi
[ ${#TESTS[@]} -gt 0 ] || { echo "ci/oclgrind.sh: FAILED: no $B/test_ops_* binaries (build first)"; exit 1; }

# Left out on the simulator (minutes each there), per binary, as Criterion --filter patterns:
#   conv2d/chunked_im2col: 7x32x32x32 and 7x48x29x29 images through im2col chunks; the chunked
#     path is run at small shapes by conv2d/other_tunings (CONV_COL_KB budgets of 64 and 200 KiB).
#   linear/matches_reference_classifier_sizes: 512-wide classifier heads (CLBlast GEMMs); the same
#     kernels run on odd small shapes in linear/matches_reference_small_odd_shapes.
declare -A SKIP=(
  [test_ops_conv]='conv2d/chunked_im2col'
  [test_ops_linear]='linear/*classifier_sizes'
)
# Binaries whose forced-tuning rows run as separate simulator processes: pattern (the rows). The
# rest of the binary runs as "NAME"; its rows as "NAME#gpu" (FACECL_TEST_SHARD=gpu, read by the test:
# the GPU-shaped kernels, local memory and barriers) under every check, and "NAME#cpu" (the
# CPU-shaped kernels' rows) without --data-races, which costs ~1.6x on the simulator: those kernels
# run in work-groups of 1 to 16 without local memory or barriers, out-of-bounds accesses are still
# reported, and PoCL and Intel's runtime run their work-groups concurrently against the reference.
# On the 2-core Zen 3 of 2026-12-07 test_ops_conv took 521 of this stage's ~1450 CPU-s, most in these rows.
# The rows' patterns are tests/shards.txt's (CMake splits the same binaries into ctest entries).
declare -A SPLIT=()
while IFS='|' read -r bin _part pattern; do
  [ -n "$bin" ] && [ "${bin:0:1}" != "#" ] && SPLIT[$bin]=$pattern
done < tests/shards.txt
# Binaries run with FACECL_TEST_SHARD=lite: test_ops_metric_loss runs its heads' row groups of 256
# work-items (a forced row, ~60% of its ~260 s here) for one head on two shapes; the same
# work-group kernels are race-checked for every head at 128 and 64 (tests/test_ops_metric_loss.c).
# test_ops_bn (~170 s here) leaves out its ReLU / ReLU6 modes under the two forced rows: a runtime
# flag of the same kernels, whose reductions and indexing the plain and residual modes check there.
# test_ops_conv_act (~180 s) runs each shape once under its GPU-shaped row (residual + ReLU6: the
# superset of the other two epilogues' memory accesses).
LITE=" test_ops_metric_loss test_ops_bn test_ops_conv_act "
# Binaries whose kernels have no local memory, barriers or atomics (cl/conv_implicit.cl: one
# work-item per output block) run without --data-races, like the CPU-shaped rows above.
NORACE=" test_ops_conv_implicit "
OPTS=(--data-races --check-api)
[ "$UNINIT" = 1 ] && OPTS+=(--uninitialized) && UNINIT_OPT=--uninitialized
LOGDIR="$B/oclgrind"
mkdir -p "$LOGDIR"
# Inside oclgrind only its own platform exists (its runtime replaces the ICD loader's); the
# kernel cache is kept apart so oclgrind's binaries never reach the normal one.
export FACECL_TEST_DEVICE=oclgrind
export FACECL_CACHE_DIR="$PWD/$LOGDIR/cache"
# Lines that begin an oclgrind diagnostic (kernel errors name the kernel on a "Kernel:" line).
PATTERN='^[[:space:]]+Kernel: |Oclgrind - |data race at|Invalid (read|write)|Uninitiali[sz]ed (value|address)|divergence detected|Unaligned address'

# One simulated binary runs on one core (oclgrind with --data-races), so JOBS binaries run side by
# side (default: the machine's cores), the longest first; their reports print in TESTS order.
JOBS=${OCLGRIND_JOBS:-$(nproc)}
# Jobs: a binary, or for a SPLIT binary its rest ("name") and its two row shards ("name#gpu", "name#cpu").
JOBSET=()
for t in "${TESTS[@]}"; do
  JOBSET+=("$t")
  [ -n "${SPLIT[$t]:-}" ] && JOBSET+=("$t#cpu" "$t#gpu")
done
# longest first, by the seconds of session 9's last CI (2 cores): conv#gpu 268, bn 169, conv_act 142,
# metric_loss 123, conv_implicit 103, conv#cpu 89; the rest (act 50, conv 43, ...) in TESTS order
LONG=(test_ops_conv#gpu test_ops_bn test_ops_conv_act test_ops_metric_loss test_ops_conv_implicit test_ops_conv#cpu)
ORDER=()
for l in "${LONG[@]}"; do for t in "${JOBSET[@]}"; do [ "$t" = "$l" ] && ORDER+=("$t"); done; done
for t in "${JOBSET[@]}"; do [[ " ${LONG[*]} " == *" $t "* ]] || ORDER+=("$t"); done

run_one() {   # job: runs it, writes $LOGDIR/$job.log and $LOGDIR/$job.res (rc seconds reports crashes cases)
  local job=$1 t=${1%%#*} t0 rc filter=() env=() opts=("${OPTS[@]}") skip
  t0=$(date +%s)
  skip=${SKIP[$t]:-}
  if [ -n "${SPLIT[$t]:-}" ]; then
    if [ "$job" = "$t" ]; then skip=${skip:+$skip|}${SPLIT[$t]}   # the rest: without the rows
    else
      filter=(--filter "${SPLIT[$t]}") env=(FACECL_TEST_SHARD="${job#*#}") skip=""
      [ "${job#*#}" = cpu ] && opts=(--check-api ${UNINIT_OPT:-})
    fi
  fi
  [[ "$NORACE" == *" $t "* ]] && opts=(--check-api ${UNINIT_OPT:-})
  [[ "$LITE" == *" $t "* ]] && env=(FACECL_TEST_SHARD=lite)
  [ -n "$skip" ] && filter=(--filter "!($skip)")
  env "${env[@]}" oclgrind "${opts[@]}" "$B/$t" --jobs 1 "${filter[@]}" > "$LOGDIR/$job.log" 2>&1
  rc=$?
  echo "$rc $(( $(date +%s) - t0 )) $(grep -cE "$PATTERN" "$LOGDIR/$job.log") $(grep -c "CRASH" "$LOGDIR/$job.log")" \
       "$(grep -c "^case " "$LOGDIR/$job.log")" > "$LOGDIR/$job.res"
}

fail=0 total_reports=0 total_cases=0
start=$(date +%s)
for t in "${ORDER[@]}"; do
  rm -f "$LOGDIR/$t.res"
  run_one "$t" &
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
done
wait
for t in "${JOBSET[@]}"; do
  log="$LOGDIR/$t.log"
  read -r rc secs reports crashes cases < "$LOGDIR/$t.res" || { rc=1 secs=0 reports=0 crashes=1 cases=0; }
  total_reports=$((total_reports + reports)) total_cases=$((total_cases + cases))
  printf 'ci/oclgrind.sh: %-22s %4d cases  %3d s  exit %d  %d report line(s)  %s\n' "$t" "$cases" \
         "$secs" "$rc" "$reports" "$(grep -m1 'Synthesis' "$log" | sed 's/^\[====\] //')"
  if [ "$rc" -ne 0 ] || [ "$reports" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    fail=1
    grep -E -B2 -A12 "$PATTERN" "$log" | head -60
    grep -E -B3 "CRASH|\[FAIL\]" "$log" | head -30
  fi
done
echo "ci/oclgrind.sh: ${#TESTS[@]} binaries (${#JOBSET[@]} jobs), $total_cases cases, $total_reports report line(s), $(( $(date +%s) - start )) s, $JOBS at a time (${OPTS[*]}; logs in $LOGDIR/)"
if [ "$fail" -ne 0 ]; then
  echo "ci/oclgrind.sh: FAILED"
  exit 1
fi
echo "ci/oclgrind.sh: clean"
