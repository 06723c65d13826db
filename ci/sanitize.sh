#!/usr/bin/env bash
# ci/sanitize.sh: builds the whole suite with ASan+UBSan in build-asan/ and runs it on PoCL; fails on any report.
#
# Usage: bash ci/sanitize.sh [CTEST-ARGS...]     (e.g. -R test_ops_bn; .ci/run calls it without arguments)
#
# Any UBSan finding aborts its test (-fno-sanitize-recover), any ASan error or leak fails it. The
# only suppressions (ci/lsan.supp) are leaks made inside PoCL and LLVM/Clang while they compile
# kernels: memory those libraries keep for the life of the process. facecl's own code, its tests,
# CLBlast, Criterion and the ICD loader are not suppressed. The run is on PoCL only
# (FACECL_TEST_DEVICE, default "pocl"): Intel's runtime is a closed binary whose own allocations
# ASan cannot tell from facecl's.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
B=${FACECL_ASAN_BUILD:-build-asan}
# -O1 and line tables only (-g1: reports keep function, file and line; no variable info): the
# build type "Sanitize" has no flags of its own, so these are the flags (RelWithDebInfo appended
# -O2 -g, which compiled the sanitizer build at -O2 with full debug info: 5.1 CPU s for five large
# sources vs 2.6 at -O1 -g1 on the 2-core Zen 3). The sanitizers check the same at either level.
FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g1 -O1"

echo "ci/sanitize.sh: building $B (ASan+UBSan)"
mkdir -p "$B"
if ! { cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Sanitize -DFACECL_WERROR=ON \
         -DCMAKE_C_FLAGS="$FLAGS" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
         -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" > "$B/configure.log" 2>&1 &&
       cmake --build "$B" -j"$(nproc)" > "$B/build.log" 2>&1; }; then
  tail -30 "$B/configure.log" "$B/build.log" 2>/dev/null
  echo "ci/sanitize.sh: FAILED: the sanitizer build did not build"
  exit 1
fi

# detect_leaks at exit of every process (Criterion runs each Test() in its own); abort on the first
# error so a report always fails its test; fork-heavy tests need no allocation-context recording.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=0:strict_string_checks=1:check_initialization_order=1:allocator_may_return_null=1:malloc_context_size=12"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$ROOT/ci/lsan.supp:print_suppressions=0"
export FACECL_TEST_DEVICE=${FACECL_TEST_DEVICE:-pocl}

# Kernels compiled by the normal build's test runs (PoCL's and facecl's disk caches) are reused:
# under ASan every allocation of LLVM compiling a kernel is intercepted, which makes a cold
# compile many times slower, and the compiler is not what this job checks.
for c in pocl-cache test-cache; do
  if [ -d "build/$c" ] && [ ! -e "$B/$c" ]; then ln -s "$ROOT/build/$c" "$B/$c"; fi
done

# PoCL alone, through a private vendors folder holding its ICD file: with Intel's runtime also
# registered, LeakSanitizer's exit-time tracer crashed ("Tracer caught signal 11") in test_e2e's and
# test_reliability's facecl processes, which load libintelocl when the ICD loader lists platforms;
# with PoCL alone the same tests passed.
mkdir -p "$B/vendors"
rm -f "$B"/vendors/*.icd
for d in "${OCL_ICD_VENDORS:-}" /etc/OpenCL/vendors; do
  if [ -n "$d" ] && [ -f "$d/pocl.icd" ]; then cp "$d/pocl.icd" "$B/vendors/"; break; fi
done
[ -f "$B/vendors/pocl.icd" ] && export OCL_ICD_VENDORS="$ROOT/$B/vendors"

LOG="$B/ctest.log"
# The ASan build is 2-4x slower than the normal one: the per-test limits of CMakeLists.txt apply.
# test_mpi runs separately, with leak detection off for it alone: Open MPI leaks in libmpi and in
# MCA components it dlcloses at MPI_Finalize (their stacks show as "<unknown module>", so no
# suppression by library name can catch them). Address and UB errors still fail it.
# test_example_install is left out here (it runs in the normal suites): it installs the library and
# compiles an uninstrumented program against it with pkg-config's flags, which checks packaging,
# not memory safety, and under ASan ran past its 600 s limit.
ctest --test-dir "$B" --output-on-failure -j"$(nproc)" -E '^(test_mpi|test_example_install)$' "$@" > "$LOG" 2>&1
rc=$?
# LeakSanitizer's stop-the-world tracer can itself crash at a process's exit ("Tracer caught signal
# 11 ... LeakSanitizer has encountered a fatal error"), seen once here in test_e2e after facecl had
# finished. Such a test is run once more; a failure that repeats, or any real report, fails the job.
# The crash is usually in a facecl child whose output a test captured: the test then fails its
# assertion and its own process leaks the captured text (Criterion leaves the test at the failed
# assertion), so leak reports may accompany it. The rerun decides: it must be free of reports.
# Seen in 2 of 3 clean-clone runs (test_e2e, test_commands_identify: facecl children on PoCL, after
# their work was done), so up to two reruns.
for try in 1 2; do
  if [ "$rc" -ne 0 ] && grep -q "LeakSanitizer has encountered a fatal error" "$LOG" &&
     ! grep -qE "runtime error: |ERROR: AddressSanitizer" "$LOG"; then
    echo "ci/sanitize.sh: LeakSanitizer's tracer crashed; re-running the failed tests (try $try)" | tee -a "$LOG.rerun"
    mv "$LOG" "$LOG.try$try"
    ctest --test-dir "$B" --output-on-failure --rerun-failed > "$LOG" 2>&1
    rc=$?
  fi
done
if [ $# -eq 0 ]; then
  ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" ctest --test-dir "$B" --output-on-failure -R '^test_mpi$' >> "$LOG" 2>&1 || rc=1
fi
# A sanitizer report inside a test that still passed (e.g. in a child process whose exit status
# was not checked) must fail the job too.
reports=$(grep -cE "==[0-9]+==ERROR: |SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer|runtime error: " "$LOG")
if [ "$rc" -ne 0 ] || [ "$reports" -ne 0 ]; then
  # the failed assertions first (they carry the captured output of facecl), then the reports
  grep -E -A12 "Assertion Failed|Tracer caught|fatal error" "$LOG" | head -120
  grep -E -B2 -A25 "==ERROR: |runtime error: " "$LOG" | head -150
  tail -25 "$LOG"
  echo "ci/sanitize.sh: FAILED: ctest exit $rc, $reports sanitizer report line(s); full log: $LOG"
  exit 1
fi
tail -4 "$LOG"
echo "ci/sanitize.sh: clean: ASan+UBSan, no report (log: $LOG)"
