#!/usr/bin/env bash
# ci/gpu-bundle.sh: builds facecl here and gathers what a GPU machine with nothing installed needs into one folder.
#
# Usage: bash ci/gpu-bundle.sh [OUT]     (default OUT: gpu-bundle/, at most 64 MiB; then on the GPU
#        machine: bash OUT/gpu-check.sh OUT)
#
# The bundle holds:
#   build/     the facecl command and every test binary (stripped), built from a copy of this tree
#   src/       what the tests and commands read from the source tree: models/, tests/ (fixtures),
#              tools/*.py (torch_bench.py), ci/gpu-check.sh
#   lib/       every shared library those programs load that is not part of the C/C++ runtime:
#              CLBlast, libpng, libjpeg, the OpenCL ICD loader (ocl-icd), Criterion and its
#              dependencies (nanomsg, libgit2, ...). glibc, libgcc_s, libstdc++ and zlib are left out:
#              every Linux has them, and forcing older copies in front of the GPU driver's could
#              break the driver.
#   gpu-check.sh, MANIFEST (what was built from where, the stage path, sizes)
# The test binaries have the source and build folders compiled in (FACECL_SOURCE_DIR, fixtures,
# FACECL_BINARY_DIR, the facecl command), so they are built at a fixed stage path
# (/tmp/facecl-gpu-stage/{src,build}); gpu-check.sh links that path to the bundle wherever it lies.
# The stage is removed here after bundling, so a dry run on this machine uses the bundle only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${1:-gpu-bundle}
case $OUT in /*) ;; *) OUT=$ROOT/$OUT ;; esac
STAGE=/tmp/facecl-gpu-stage
LIMIT=$((64 * 1024 * 1024))

rm -rf "$OUT"
mkdir -p "$OUT"
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git status --porcelain 2>/dev/null | grep -qv '^??' && echo " + uncommitted edits" || true)
# FACECL_BUNDLE_REUSE=1: bundle the stage's earlier build again (while working on this script).
if [ "${FACECL_BUNDLE_REUSE:-0}" = 1 ] && [ -x "$STAGE/build/facecl" ] && [ ! -L "$STAGE/build" ]; then
  echo "ci/gpu-bundle.sh: reusing the build in $STAGE/build"
  COMMIT="$COMMIT (reused stage build)"
else
rm -rf "$STAGE"
mkdir -p "$STAGE/src"
echo "ci/gpu-bundle.sh: copying the source tree to $STAGE/src"
# Tracked and untracked-but-not-ignored files: what the working tree holds, uncommitted edits too.
git ls-files -z --cached --others --exclude-standard | grep -zv '^gpu-bundle/' |
  tar --null -T - -cf - 2>/dev/null | tar -xf - -C "$STAGE/src"
echo "ci/gpu-bundle.sh: building in $STAGE/build"
cmake -S "$STAGE/src" -B "$STAGE/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFACECL_WERROR=ON > "$STAGE/configure.log"
cmake --build "$STAGE/build" -j"$(nproc)" > "$STAGE/build.log" 2>&1 || { tail -30 "$STAGE/build.log"; exit 1; }
fi

mkdir -p "$OUT/build" "$OUT/src/tools" "$OUT/src/ci" "$OUT/lib"
for f in "$STAGE/build/facecl" "$STAGE"/build/test_*; do
  [ -x "$f" ] && [ -f "$f" ] || continue
  cp "$f" "$OUT/build/"
  strip --strip-unneeded "$OUT/build/$(basename "$f")"
done
cp -a "$STAGE/src/models" "$STAGE/src/tests" "$OUT/src/"
find "$OUT/src/tests" -name '*.[ch]' -delete
cp "$STAGE"/src/tools/*.py "$OUT/src/tools/"
cp "$ROOT/ci/gpu-check.sh" "$OUT/src/ci/"
cp "$ROOT/ci/gpu-check.sh" "$OUT/gpu-check.sh"
# ctest's list of the tests (absolute stage paths, per-test limits and environment): it works
# there once the stage path is linked; gpu-check.sh runs the binaries itself where ctest is missing.
cp "$STAGE/build/CTestTestfile.cmake" "$OUT/build/"

# Shared libraries: what the loader resolves for the programs, minus the runtime every system has.
SKIP='^(linux-vdso|ld-linux|libc|libm|libdl|libpthread|librt|libresolv|libutil|libgcc_s|libstdc\+\+|libz)\.so'
{ for f in "$OUT"/build/facecl "$OUT"/build/test_*; do ldd "$f"; done; } | awk '/=> \// {print $1, $3}' | sort -u | while read -r name path; do
  echo "$name" | grep -qE "$SKIP" && continue
  cp -L "$path" "$OUT/lib/$name"
done
strip --strip-unneeded "$OUT"/lib/*.so* 2>/dev/null || true
[ -f "$OUT/lib/libOpenCL.so.1" ] || { echo "ci/gpu-bundle.sh: the ICD loader libOpenCL.so.1 was not found"; exit 1; }

{
  echo "facecl GPU bundle"
  echo "built      $(date -u +%FT%TZ) on $(uname -n) ($(. /etc/os-release && echo "$PRETTY_NAME"), glibc $(ldd --version | head -1 | awk '{print $NF}'))"
  echo "source     $ROOT at $COMMIT$DIRTY"
  echo "stage      $STAGE   (compiled into the test binaries; gpu-check.sh links it to this folder)"
  echo "programs   $(ls "$OUT/build" | grep -vc CTestTestfile)"
  echo "libraries  $(cd "$OUT/lib" && ls | tr '\n' ' ')"
} > "$OUT/MANIFEST"
rm -rf "$STAGE"

size=$(du -sb "$OUT" | cut -f1)
cat "$OUT/MANIFEST"
echo "ci/gpu-bundle.sh: $OUT: $((size / 1024 / 1024)) MiB ($size bytes; limit 64 MiB)"
[ "$size" -le "$LIMIT" ] || { echo "ci/gpu-bundle.sh: FAILED: the bundle is over 64 MiB"; exit 1; }
