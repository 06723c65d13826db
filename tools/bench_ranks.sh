#!/usr/bin/env bash
# tools/bench_ranks.sh: data-parallel scaling: `facecl bench net` on 1 and N MPI ranks, with the allreduce cost.
#
#   tools/bench_ranks.sh [N] [facecl bench net options...]     (default N 2; e.g. --model resnet18 --size 64 --batch 16)
#
# Each rank gets one PoCL thread (POCL_MAX_PTHREAD_COUNT, honoured by PoCL 3.1; override with
# THREADS=k) so that N ranks on an N-core machine do not oversubscribe it. --batch is per rank:
# the N-rank run trains a global batch N times as large (weak scaling, as Horovod reports).
set -euo pipefail
N=${1:-2}
shift || true
here=$(cd "$(dirname "$0")/.." && pwd)
FACECL=${FACECL:-$here/build/facecl}
export POCL_MAX_PTHREAD_COUNT=${THREADS:-1}
MPI=(mpirun --oversubscribe -x POCL_MAX_PTHREAD_COUNT)
[ "$(id -u)" -eq 0 ] && MPI+=(--allow-run-as-root)
echo "== 1 rank"
"${MPI[@]}" -np 1 "$FACECL" bench net "$@"
echo "== $N ranks"
"${MPI[@]}" -np "$N" "$FACECL" bench net "$@"
