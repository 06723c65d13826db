#!/usr/bin/env bash
# ci/intel-ocl.sh: installs Intel's CPU OpenCL runtime (PyPI wheels) into one folder and registers it; never fails.
#
# Usage: bash ci/intel-ocl.sh      (ci/setup.sh calls it; idempotent; root, or sudo for the system paths)
#
#   FACECL_INTEL_OCL_DIR  install folder            (default /opt/intel-ocl)
#   FACECL_ICD_DIR        folder of the ICD file    (default /etc/OpenCL/vendors: every OpenCL program sees it)
#   FACECL_INTEL_OCL=0    do not install (ci/test.sh then skips the second vendor, saying why)
#
# The runtime is three pinned wheels (intel-opencl-rt, intel-cmplr-lib-rt for libimf/libsvml/libirng/
# libintlc, tbb), about 260 MB, checked by sha256. From them only data/lib/* is kept, in DIR/lib, with
# the copies a wheel makes of versioned names (libtbb.so, .so.12, .so.12.20) turned back into links
# (~400 MB instead of ~800 MB), and WITHOUT the wheel's own libOpenCL.so*: Debian's ICD loader stays
# the only libOpenCL, so no program's OpenCL changes except for the extra platform.
# No ld.so.conf.d entry is written: libintelocl.so carries RUNPATH $ORIGIN, so the loader finds its
# dependencies (libcommon_clang, libtbb, libimf, libsvml, libirng, libintlc) beside it. Putting DIR/lib
# on the global search path would instead make Intel's libtbb/libimf/libsvml shadow Debian's for every
# program. The ICD file holds the absolute path of libintelocl.so.
# The outcome is one line in build/intel-ocl-status.txt ("ok ..." or "skipped: <reason>"), which
# ci/test.sh prints when it skips the Intel run. A failed download (no network) leaves the machine as
# it was and exits 0.
set -uo pipefail
cd "$(dirname "$0")/.."

DIR=${FACECL_INTEL_OCL_DIR:-/opt/intel-ocl}
ICD_DIR=${FACECL_ICD_DIR:-/etc/OpenCL/vendors}
STATUS_FILE=build/intel-ocl-status.txt
# Pinned: name==version and the sha256 of its manylinux_2_28_x86_64 wheel.
WHEELS=(
  "intel-opencl-rt==2026.2.0 6b6215a420598b4999ee01caca6d5cbe106aa4155c46c52377619c5aafce9f67"
  "intel-cmplr-lib-rt==2026.2.0 9f713083073a820d2496a6da8e8d4f3482aba6640f74521d25ea48dcebe72748"
  "tbb==2023.2.0 7d80615b6e970f11671fa05b6eaa9483ac864fbfe525ac280271a78b37870b7c"
)
STAMP="facecl ci/intel-ocl.sh: $(for w in "${WHEELS[@]}"; do printf '%s ' "${w%% *}"; done)"

mkdir -p build
say() { echo "ci/intel-ocl.sh: $*"; }
finish() {   # finish STATUS-LINE: records the outcome and exits 0 (setup must not fail here)
  echo "$1" > "$STATUS_FILE"
  say "$1"
  exit 0
}
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi
}

[ "${FACECL_INTEL_OCL:-1}" = "0" ] && finish "skipped: FACECL_INTEL_OCL=0"
[ "$(uname -m)" = x86_64 ] || finish "skipped: Intel's CPU runtime is x86_64 only (this is $(uname -m))"

ICD_LINE="$DIR/lib/libintelocl.so"
if [ -f "$DIR/facecl-install.txt" ] && [ "$(cat "$DIR/facecl-install.txt")" = "$STAMP" ] &&
   [ -f "$DIR/lib/libintelocl.so" ] && [ "$(cat "$ICD_DIR/intel-cpu.icd" 2>/dev/null)" = "$ICD_LINE" ]; then
  finish "ok: already installed in $DIR, registered by $ICD_DIR/intel-cpu.icd"
fi

PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || true)
[ -n "$PY" ] && "$PY" -m pip --version >/dev/null 2>&1 ||
  finish "skipped: no python3 with pip to download the wheels (apt-get install python3-pip)"

TMP=$(mktemp -d /tmp/facecl-intel-ocl.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/whl" "$TMP/x" "$TMP/new/lib" "$TMP/new/doc"

# Wheels already in DIR/whl (an earlier download) are reused when their hash matches.
for w in "${WHEELS[@]}"; do
  spec=${w%% *} sum=${w##* }
  echo "$spec --hash=sha256:$sum" >> "$TMP/requirements.txt"
  for f in "$DIR"/whl/*.whl; do
    [ -f "$f" ] && [ "$(sha256sum < "$f" | cut -d' ' -f1)" = "$sum" ] && cp "$f" "$TMP/whl/"
  done
done
if [ "$(ls "$TMP/whl" | wc -l)" -lt ${#WHEELS[@]} ]; then
  say "downloading ${#WHEELS[@]} wheels (~260 MB) from PyPI"
  if ! "$PY" -m pip download --quiet --no-deps --only-binary=:all: --timeout 30 --retries 2 \
         --platform manylinux_2_28_x86_64 --require-hashes -r "$TMP/requirements.txt" \
         -d "$TMP/whl" > "$TMP/pip.log" 2>&1; then
    tail -3 "$TMP/pip.log" | sed 's/^/  pip: /'
    finish "skipped: could not download the wheels from PyPI (no network?): $(grep -m1 '^ERROR' "$TMP/pip.log" | cut -c8-160)"
  fi
fi

for f in "$TMP"/whl/*.whl; do
  "$PY" -m zipfile -e "$f" "$TMP/x" || finish "skipped: cannot unpack $(basename "$f")"
done
cp -a "$TMP"/x/*.data/data/lib/. "$TMP/new/lib/"
rm -f "$TMP"/new/lib/libOpenCL.so*                       # Debian's ICD loader stays the only one
cp -a "$TMP"/x/*.data/data/share/doc/. "$TMP/new/doc/" 2>/dev/null || true   # licences (EULA)
[ -f "$TMP/new/lib/libintelocl.so" ] || finish "skipped: the wheels hold no lib/libintelocl.so"

# Identical files with names that extend each other (libx.so, libx.so.1, libx.so.1.2) become links
# to the longest name.
( cd "$TMP/new/lib" && for f in *.so; do
    [ -f "$f" ] && [ ! -L "$f" ] || continue
    longest=$f
    for g in "$f".*; do [ -f "$g" ] && [ ! -L "$g" ] && [ ${#g} -gt ${#longest} ] && longest=$g; done
    for g in "$f" "$f".*; do
      [ "$g" != "$longest" ] && [ -f "$g" ] && [ ! -L "$g" ] && cmp -s "$g" "$longest" && ln -sf "$longest" "$g"
    done
  done )
echo "$STAMP" > "$TMP/new/facecl-install.txt"

# Into place: the wheels are kept in DIR/whl (a later run needs no network); lib/ is swapped in one
# rename, so programs using the old copy keep running.
as_root mkdir -p "$DIR/whl" "$DIR/vendors" "$ICD_DIR" || finish "skipped: cannot create $DIR or $ICD_DIR (not root and no sudo)"
as_root cp -n "$TMP"/whl/*.whl "$DIR/whl/"
as_root rm -rf "$DIR/lib.new" "$DIR/lib.old" "$DIR/doc"
as_root mv "$TMP/new/lib" "$DIR/lib.new" && as_root mv "$TMP/new/doc" "$DIR/doc" || finish "skipped: cannot write $DIR"
[ -e "$DIR/lib" ] && as_root mv "$DIR/lib" "$DIR/lib.old"
as_root mv "$DIR/lib.new" "$DIR/lib" && as_root rm -rf "$DIR/lib.old"
as_root chmod -R a+rX "$DIR"
echo "$ICD_LINE" > "$TMP/intel-cpu.icd"
as_root cp "$TMP/intel-cpu.icd" "$DIR/vendors/intel-cpu.icd"   # for OCL_ICD_VENDORS=$DIR/vendors (Intel alone)
as_root cp "$TMP/intel-cpu.icd" "$ICD_DIR/.intel-cpu.icd.tmp" && as_root mv "$ICD_DIR/.intel-cpu.icd.tmp" "$ICD_DIR/intel-cpu.icd" ||
  finish "skipped: cannot write $ICD_DIR/intel-cpu.icd"
as_root cp "$TMP/new/facecl-install.txt" "$DIR/facecl-install.txt"

# The platform must load through the ICD loader alone (no LD_LIBRARY_PATH).
if command -v clinfo >/dev/null; then
  if ! OCL_ICD_VENDORS="$DIR/vendors" clinfo -l 2>&1 | grep -q "Intel(R) OpenCL"; then
    as_root rm -f "$ICD_DIR/intel-cpu.icd" "$DIR/facecl-install.txt"
    finish "skipped: installed in $DIR but its platform does not load (clinfo -l shows no 'Intel(R) OpenCL'); registration removed"
  fi
fi
finish "ok: installed in $DIR ($(du -sh "$DIR/lib" | cut -f1)), registered by $ICD_DIR/intel-cpu.icd"
