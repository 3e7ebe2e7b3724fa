#!/usr/bin/env bash
# The README's two set-up commands:
#   bash scripts/setup.sh quickstart   install, build, run experiments/quickstart.toml on 2 MPI ranks
#   bash scripts/setup.sh test         install, build, run the whole test suite (+ AddressSanitizer job);
#                                      prints how many tests were skipped or not run (no GPU) and why
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
case "$mode" in
  quickstart|test) ;;
  *) echo "usage: bash scripts/setup.sh quickstart|test" >&2; exit 2 ;;
esac
bash scripts/install-deps.sh
mpi_flags=(--oversubscribe)
[[ $(id -u) -eq 0 ]] && mpi_flags+=(--allow-run-as-root)

# Both modes share build/ (and ccache), in either order: quickstart builds only the pipeline and leaves
# build/'s configuration as it is; test states every option that decides what is built and tested, so an
# earlier configure (tests or benchmarks off, CUDA off, a sanitizer) never shrinks the suite it runs.
if [[ $mode == quickstart ]]; then
  BUILD_TARGETS=moqa-pipeline bash scripts/build.sh
  exec mpirun -np 2 "${mpi_flags[@]}" build/src/moqa-pipeline experiments/quickstart.toml
fi

bash scripts/build.sh -DMOQA_BUILD_TESTS=ON -DMOQA_BUILD_BENCH=ON -DMOQA_CUDA=AUTO -DMOQA_SANITIZE=

# Tests labelled gpu need a CUDA device. Where none is visible they are left out and counted, not run and
# reported as passed; a device that nvidia-smi lists but CUDA cannot use shows up as skipped tests instead.
cuda_devices() {
  if [[ ${CUDA_VISIBLE_DEVICES-unset} == "" || ${CUDA_VISIBLE_DEVICES-} == -1 ]] || ! command -v nvidia-smi >/dev/null
  then
    echo 0
  else
    nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true
  fi
}
gpu_tests=$(ctest --test-dir build -N -L gpu | sed -n 's/^Total Tests: //p')
ctest_args=(--test-dir build --output-on-failure --no-tests=error -j "$(nproc)")
# Tests labelled scale write and load real-size checkpoints (gigabytes, $MOQA_SCALE_DIR): never in this suite.
scale_tests=$(ctest --test-dir build -N -L scale | sed -n 's/^Total Tests: //p')
excluded=scale
gpu_not_run=0
if ((gpu_tests > 0)) && (($(cuda_devices) == 0)); then
  excluded="gpu|scale"
  gpu_not_run=$gpu_tests
fi
ctest_args+=(-LE "$excluded")
log=build/ctest-output.log
status=0
ctest "${ctest_args[@]}" 2>&1 | tee "$log" || status=$?
skipped=$(grep -cE '^[[:space:]]+[0-9]+ - .* \(Skipped\)$' "$log" || true)
if ((gpu_not_run > 0)); then
  echo "[moqa] NOT RUN: $gpu_not_run tests labelled gpu (no CUDA device visible);" \
    "on a GPU machine: ctest --test-dir build -L gpu"
fi
if ((scale_tests > 0)); then
  echo "[moqa] NOT RUN: $scale_tests tests labelled scale (real-size checkpoints, tens of GB);" \
    "MOQA_SCALE_DIR=/scratch ctest --test-dir build -L scale"
fi
if ((skipped > 0)); then
  echo "[moqa] SKIPPED: $skipped tests (listed above as \"(Skipped)\"; each says why:" \
    "ctest --test-dir build -R <name> -V)"
fi
((status == 0)) || exit "$status"
# Parsers of untrusted files also run under AddressSanitizer + UBSan (corrupted-input tests included).
asan_tests=(io/test_io tokenizer/test_tokenizer config/test_config data/test_data quant/test_quant)
BUILD_DIR=build-asan BUILD_TARGETS="${asan_tests[*]##*/}" bash scripts/build.sh -DMOQA_SANITIZE=address \
  -DMOQA_CUDA=OFF -DMOQA_BUILD_BENCH=OFF >/dev/null
for t in "${asan_tests[@]}"; do
  echo "[moqa] AddressSanitizer + UBSan: tests/$t"
  ASAN_OPTIONS=detect_leaks=1 "build-asan/tests/$t" --gtest_brief=1
done
