#!/bin/bash
# Runs one experiment (all runs of its [sweep]) on several models and several seeds, so that
# scripts/collect.py can report mean ± sd over seeds per cell:
#
#   scripts/seeds.sh [options] EXPERIMENT.toml [-- extra moqa-pipeline arguments]
#
#   --models "DIR DIR..."   model folders (default: the two trained models in ../shared/assets/trained)
#   --seeds "0 1 2"         values of experiment.seed (calibration sampling, GPTQ windows, FCM starts)
#   --out DIR               results root (default results/seeds); writes DIR/<experiment>/<model>/fp and
#                           DIR/<experiment>/<model>/seed-<S>/<sweep suffix>
#   --ranks N               MPI ranks per run (default 2; results do not depend on it beyond rounding)
#   --name NAME             experiment.name and the folder under --out (default: the file's name); for
#                           variants of one file made with extra --set arguments
#   --no-fp                 skip the full-precision run (another experiment of the same sets has it)
#   --runs "0 2 4"          only these runs of the sweep (indices as `moqa-pipeline sweep X --list` prints)
#
# The full-precision baseline does not depend on the seed, so it is evaluated once per model (the run "fp",
# stages = ["evaluate"]) and every seeded run sets baseline = false on its evaluation sets. Each run is its
# own `moqa-pipeline sweep X --index I`; a run whose folder already holds its results.json (written only when
# the run completed) is skipped, so an interrupted job resumes where it stopped.
# Environment: PIPELINE (default build/src/moqa-pipeline), MPIRUN (default "mpirun -np <ranks>").
#
#   scripts/seeds.sh experiments/table1_perplexity.toml
#   scripts/collect.py results/seeds/table1_perplexity      # mean ± sd over the seeds, per model
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
models="$root/../shared/assets/trained/mixtral-tiny $root/../shared/assets/trained/qwen2moe-small"
seeds="0 1 2"
out="results/seeds"
ranks=2
name=""
fp=1
runs=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --models) models="$2"; shift 2 ;;
    --seeds) seeds="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --ranks) ranks="$2"; shift 2 ;;
    --name) name="$2"; shift 2 ;;
    --no-fp) fp=0; shift ;;
    --runs) runs="$2"; shift 2 ;;
    -h|--help) sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; break ;;
    -*) echo "seeds.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) experiment="$1"; shift
       if [[ $# -gt 0 && "$1" == "--" ]]; then shift; fi
       break ;;
  esac
done
[[ -n "${experiment:-}" ]] || { echo "seeds.sh: no EXPERIMENT.toml given (see --help)" >&2; exit 2; }
[[ -f "$experiment" ]] || { echo "seeds.sh: $experiment: no such file" >&2; exit 2; }
pipeline="${PIPELINE:-build/src/moqa-pipeline}"
[[ -x "$pipeline" ]] || { echo "seeds.sh: $pipeline is not built (bash scripts/build.sh, or set PIPELINE)" >&2; exit 2; }
read -r -a mpirun <<< "${MPIRUN:-mpirun -np $ranks}"
naming=()
if [[ -n "$name" ]]; then naming=(--set "experiment.name=$name"); else name="$(basename "$experiment" .toml)"; fi

# The sweep's runs (index and folder suffix), and the number of [[evaluation]] tables (for their baseline keys).
declare -A suffix
while read -r index tail; do suffix[$index]="$tail"; done < <("$pipeline" sweep "$experiment" --list | awk '/^ +[0-9]/ {print $1, $2}')
[[ ${#suffix[@]} -ge 1 ]] || { echo "seeds.sh: $experiment: moqa-pipeline sweep --list printed no runs" >&2; exit 1; }
[[ -n "$runs" ]] || runs="$(printf '%s\n' "${!suffix[@]}" | sort -n | tr '\n' ' ')"
for index in $runs; do
  [[ -n "${suffix[$index]:-}" ]] || { echo "seeds.sh: $experiment has no run $index (see sweep --list)" >&2; exit 2; }
done
sets=$(grep -c '^\[\[evaluation\]\]' "$experiment" || true)
no_baseline=()
for ((i = 0; i < sets; ++i)); do no_baseline+=(--set "evaluation.$i.baseline=false"); done

for model in $models; do
  model="$(cd "$model" && pwd)"
  tag="$(basename "$model")"
  dir="$out/$name/$tag"
  if [[ $fp == 1 ]] && [[ -z "$(find "$dir/fp" -name results.json 2>/dev/null)" ]]; then
    echo "seeds.sh: $name on $tag: full-precision baseline"
    "${mpirun[@]}" "$pipeline" sweep "$experiment" --index 0 --set "model.path=$model" \
      --set 'experiment.stages=["evaluate"]' "${naming[@]}" --output "$dir/fp" "$@"
  fi
  for seed in $seeds; do
    for index in $runs; do
      if [[ -f "$dir/seed-$seed/${suffix[$index]}/results.json" ]]; then
        echo "seeds.sh: $name on $tag, seed $seed, run $index (${suffix[$index]}): complete, skipped"
        continue
      fi
      echo "seeds.sh: $name on $tag, seed $seed, run $index (${suffix[$index]})"
      "${mpirun[@]}" "$pipeline" sweep "$experiment" --index "$index" --set "model.path=$model" \
        --set "experiment.seed=$seed" "${no_baseline[@]}" "${naming[@]}" --output "$dir/seed-$seed" "$@"
    done
  done
done
