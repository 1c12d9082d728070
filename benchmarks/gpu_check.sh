#!/usr/bin/env bash
# The GPU check: every CUDA test (pytest -m cuda) and every GPU benchmark row, in under
# 8 minutes, with a markdown verdict against the GPU targets. Run from anywhere:
#
#   benchmarks/gpu_check.sh                  # writes gpu_check.md (and .json) here
#   benchmarks/gpu_check.sh --output out.md
#   benchmarks/gpu_check.sh --dry-run        # list what would run; works without a GPU
#
# Without a CUDA device it exits with status 2 and says why; status 1 means a check failed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$here/.venv/bin/python" ]]; then PYTHON="$here/.venv/bin/python"; else PYTHON=python3; fi
fi
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
out_dir="$(pwd)"
cd "$here"
args=()
has_output=0
for a in "$@"; do
  [[ "$a" == --output* ]] && has_output=1
  args+=("$a")
done
if [[ $has_output -eq 0 ]]; then args+=(--output "$out_dir/gpu_check.md"); fi
exec "$PYTHON" -m benchmarks --gpu "${args[@]}"
