#!/usr/bin/env bash
# ci/release-build.sh: builds the library and the command as Release (-O3) with warnings as errors in build-release/; fails on any warning.
#
# Usage: bash ci/release-build.sh     (.ci/run calls it; nothing is run, only compiled)
#
# Why: users and benchmarks build Release, where gcc -O3 inlines across functions and warns
# (-Wmaybe-uninitialized) about out-parameters the -O2 build (ci/setup.sh) and the sanitizer build
# never see: session 11 found 44 such errors, all in the library, that no CI step had caught. The
# library and the command only (~20 s on 2 cores; every target took ~70 s of a CI that ran 27 minutes).
set -uo pipefail
cd "$(dirname "$0")/.."
B=${FACECL_RELEASE_BUILD:-build-release}
echo "ci/release-build.sh: building $B (Release, -DFACECL_WERROR=ON)"
mkdir -p "$B"
if ! { cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DFACECL_WERROR=ON > "$B/configure.log" 2>&1 &&
       cmake --build "$B" -j"$(nproc)" --target facecl facecl_cli > "$B/build.log" 2>&1; }; then
  grep -E "error|warning" "$B/build.log" | head -40
  tail -15 "$B/configure.log" "$B/build.log" 2>/dev/null
  echo "ci/release-build.sh: FAILED: the Release build has warnings or errors"
  exit 1
fi
echo "ci/release-build.sh: passed (the library and the command, 0 warnings)"
