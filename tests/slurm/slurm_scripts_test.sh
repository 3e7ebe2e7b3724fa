#!/bin/bash
# Checks the sbatch templates without Slurm: syntax, and the exact srun/sbatch lines they would run.
#   slurm_scripts_test.sh SOURCE_DIR MOQA_PIPELINE EXPERIMENT_WITH_SWEEP
set -euo pipefail
src=$1 bin=$2 experiment=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() {  # expect NAME ACTUAL EXPECTED
  [[ $2 == "$3" ]] || fail "$1: got [$2], expected [$3]"
  echo "ok: $1"
}

for f in "$src"/slurm/*.sbatch "$src"/slurm/*.sh; do
  bash -n "$f" || fail "syntax error in $f"
done
echo "ok: bash -n on every template"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# sbatch runs a copy of the script from a spool folder: the templates must find common.sh via SLURM_SUBMIT_DIR.
cp "$src"/slurm/run.sbatch "$src"/slurm/sweep.sbatch "$work/"

out=$(cd "$work" && SLURM_SUBMIT_DIR=$src SLURM_CPUS_PER_TASK=8 MOQA_BIN=/opt/moqa MOQA_DRY_RUN=1 \
      bash ./run.sbatch exp.toml --set allocation.target_bits=2.5)
expect "run.sbatch" "$out" \
  "srun --mpi=pmix --kill-on-bad-exit=1 --cpu-bind=cores /opt/moqa exp.toml --set allocation.target_bits=2.5 --set runtime.threads=8 "

out=$(cd "$work" && SLURM_SUBMIT_DIR=$src SLURM_ARRAY_TASK_ID=5 MOQA_SRUN_MPI=pmi2 MOQA_BIN=/opt/moqa MOQA_DRY_RUN=1 \
      bash ./sweep.sbatch exp.toml)
expect "sweep.sbatch" "$out" \
  "srun --mpi=pmi2 --kill-on-bad-exit=1 --cpu-bind=cores /opt/moqa sweep exp.toml --index 5 --set runtime.threads=1 "

set +e
msg=$(cd "$work" && SLURM_SUBMIT_DIR=$src MOQA_DRY_RUN=1 bash ./sweep.sbatch exp.toml 2>&1)
rc=$?
set -e
[[ $rc -eq 2 && $msg == *SLURM_ARRAY_TASK_ID* ]] || fail "sweep.sbatch without an array task id: rc=$rc [$msg]"
echo "ok: sweep.sbatch refuses to run outside a job array"

out=$(MOQA_BIN=$bin MOQA_DRY_RUN=1 bash "$src/slurm/submit_sweep.sh" "$experiment" --partition gpu)
expect "submit_sweep.sh" "$out" "sbatch --array=0-3 --partition gpu $src/slurm/sweep.sbatch $experiment "
