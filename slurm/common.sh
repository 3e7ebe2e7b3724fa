# Shared by the sbatch templates: how moqa-pipeline is launched inside an allocation.
# Sbatch copies the script it runs into a spool folder, so the templates find this file through
# SLURM_SUBMIT_DIR when their own folder does not hold it.

moqa_usage() {
  echo "usage: $1" >&2
  exit 2
}

# moqa_launch ARGS...: srun moqa-pipeline ARGS with one rank per task. Ranks pick their GPU
# themselves (local rank % visible GPUs), so no per-task GPU binding is forced here; threads per rank
# follow --cpus-per-task.
moqa_launch() {
  local bin=${MOQA_BIN:-${SLURM_SUBMIT_DIR:-$PWD}/build/src/moqa-pipeline}
  local threads=${SLURM_CPUS_PER_TASK:-1}
  export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
  local cmd=(srun --mpi="${MOQA_SRUN_MPI:-pmix}" --kill-on-bad-exit=1 --cpu-bind=cores
             "$bin" "$@" --set "runtime.threads=$threads")
  if [[ ${MOQA_DRY_RUN:-0} == 1 ]]; then
    printf '%q ' "${cmd[@]}"
    echo
    return 0
  fi
  [[ -x $bin ]] || { echo "moqa: $bin is not an executable (build first, or set MOQA_BIN)" >&2; exit 1; }
  exec "${cmd[@]}"
}
