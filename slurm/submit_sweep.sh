#!/bin/bash
# Submits slurm/sweep.sbatch as a job array with one task per sweep point.
#
#   bash slurm/submit_sweep.sh EXPERIMENT.toml [sbatch options ...]
#   MOQA_DRY_RUN=1 bash slurm/submit_sweep.sh EXPERIMENT.toml    # print the sbatch line only
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
(($# >= 1)) || { echo "usage: bash slurm/submit_sweep.sh EXPERIMENT.toml [sbatch options ...]" >&2; exit 2; }
experiment=$1
shift
bin=${MOQA_BIN:-$here/../build/src/moqa-pipeline}
# The first line of `sweep --list` reads "<N> runs of <file>:".
listing=$("$bin" sweep "$experiment" --list)
runs=$(head -n 1 <<<"$listing" | awk '{print $1}')
[[ $runs =~ ^[0-9]+$ && $runs -gt 0 ]] || { echo "moqa: cannot read the number of runs from:" >&2; echo "$listing" >&2; exit 1; }
cmd=(sbatch --array="0-$((runs - 1))" "$@" "$here/sweep.sbatch" "$experiment")
if [[ ${MOQA_DRY_RUN:-0} == 1 ]]; then
  printf '%q ' "${cmd[@]}"
  echo
  exit 0
fi
exec "${cmd[@]}"
