#!/usr/bin/env bash
# The README's two set-up commands:
#   bash scripts/setup.sh quickstart   install, build, run experiments/quickstart.toml on 2 MPI ranks
#   bash scripts/setup.sh test         install, build, run the whole test suite (+ AddressSanitizer job)
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

if [[ $mode == quickstart ]]; then
  bash scripts/build.sh -DMOQA_BUILD_TESTS=OFF -DMOQA_BUILD_BENCH=OFF
  exec mpirun -np 2 "${mpi_flags[@]}" build/src/moqa-pipeline experiments/quickstart.toml
fi

bash scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)"
# Parsers of untrusted files also run under AddressSanitizer + UBSan (corrupted-input tests included).
asan_tests=(io/test_io tokenizer/test_tokenizer config/test_config data/test_data quant/test_quant)
BUILD_DIR=build-asan BUILD_TARGETS="${asan_tests[*]##*/}" bash scripts/build.sh -DMOQA_SANITIZE=address \
  -DMOQA_CUDA=OFF -DMOQA_BUILD_BENCH=OFF >/dev/null
for t in "${asan_tests[@]}"; do
  echo "[moqa] AddressSanitizer + UBSan: tests/$t"
  ASAN_OPTIONS=detect_leaks=1 "build-asan/tests/$t" --gtest_brief=1
done
