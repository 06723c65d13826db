#!/usr/bin/env bash
# ci/test.sh: the test command: the whole ctest suite on PoCL, then again on Intel's CPU OpenCL runtime.
#
# Usage: bash ci/test.sh [CTEST-ARGS...]    e.g. bash ci/test.sh -R test_ops_bn
#        bash ci/test.sh --summary          reprint the closing summaries of the last runs
#
# Each run selects its device explicitly (FACECL_TEST_DEVICE, which the tests also pass on to the
# facecl commands they start as FACECL_DEVICE): "pocl" (PoCL's platform version) and
# "Intel(R) OpenCL" (the platform name of Intel's runtime), never a platform index, since the ICD
# loader lists platforms in directory order. When Intel's runtime is not installed (ci/setup.sh
# installs it unless it cannot download it), its run is skipped with the reason. Logs:
# build/ctest-pocl.log, build/ctest-intel.log. Exit status: non-zero when a run that ran failed.
# The output ends with both runs' ctest summaries.
set -uo pipefail
cd "$(dirname "$0")/.."
B=${FACECL_BUILD:-build}
RUNS=("pocl|pocl|PoCL" "intel|Intel(R) OpenCL|Intel's CPU runtime")

summary() {   # the closing ctest lines of every run (or why it did not run)
  local r slug sel name
  for r in "${RUNS[@]}"; do
    IFS='|' read -r slug sel name <<< "$r"
    echo "== ctest on $name (FACECL_TEST_DEVICE='$sel') =="
    if [ -f "$B/ctest-$slug.skipped" ]; then
      cat "$B/ctest-$slug.skipped"
    elif [ -f "$B/ctest-$slug.log" ]; then
      grep -m1 '^selected' "$B/ctest-$slug.log"
      sed -n '/tests passed, /,$p' "$B/ctest-$slug.log"
    else
      echo "not run"
    fi
  done
}
if [ "${1:-}" = "--summary" ]; then summary; exit 0; fi

[ -x "$B/facecl" ] || { echo "ci/test.sh: $B/facecl is not built (run bash ci/setup.sh)"; exit 1; }
rc=0
for r in "${RUNS[@]}"; do
  IFS='|' read -r slug sel name <<< "$r"
  rm -f "$B/ctest-$slug.log" "$B/ctest-$slug.skipped"
  if ! chosen=$("$B/facecl" devices --device "$sel" 2>&1 | grep '^selected'); then
    why="no OpenCL device matches '$sel'"
    [ "$slug" = intel ] && [ -f "$B/intel-ocl-status.txt" ] && why="$why; ci/setup.sh: $(cat "$B/intel-ocl-status.txt")"
    [ "$slug" = intel ] && why="$why (install: bash ci/intel-ocl.sh)"
    echo "SKIPPED: $why" | tee "$B/ctest-$slug.skipped"
    [ "$slug" = pocl ] && rc=1     # PoCL is the reference: its absence is a failure
    continue
  fi
  echo "== ctest on $name: $chosen =="
  # The second runtime runs what depends on the device's compiler and execution model (the op
  # harness, networks, parity, GEMMs, the tuners' candidates); the command-line, file, packaging and
  # MPI tests run once, on PoCL: their device work is the same kernels (CI time on 2 cores).
  excl=()
  [ "$slug" = intel ] && excl=(-E '^(test_e2e|test_tune_cli|test_mpi|test_reliability|test_commands_identify|test_commands_eval|test_example_install)$')
  { echo "$chosen"; FACECL_TEST_DEVICE="$sel" ctest --test-dir "$B" --output-on-failure -j2 "${excl[@]}" "$@"; } 2>&1 |
    tee "$B/ctest-$slug.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
done
summary
exit $rc
