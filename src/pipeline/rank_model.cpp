#include "pipeline/rank_model.h"

#include <sched.h>

#include <algorithm>
#include <limits>
#include <thread>

#include "backend/factory.h"
#include "core/error.h"
#include "dist/alltoall_executor.h"
#include "io/hf_config.h"

namespace moqa::pipeline {

int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

int automatic_threads(int hardware_threads, int usable, int ranks_on_node) {
  return std::max(1, std::min(usable, hardware_threads / std::max(1, ranks_on_node)));
}

std::string thread_binding_warning(int64_t configured_threads, int usable) {
  if (configured_threads <= usable) return "";
  return cat("runtime.threads = ", configured_threads, ", but this rank may only run on ", usable,
             usable == 1 ? " core" : " cores", " (its CPU affinity: mpirun binds each rank to one core by default), ",
             "so its threads take turns; launch with `mpirun --bind-to none` or `--map-by slot:PE=", configured_threads,
             "`, or set runtime.threads = ", usable);
}

int math_threads(const config::RuntimeSection& runtime, const dist::MpiSession& session) {
  if (runtime.threads > 0) return static_cast<int>(runtime.threads);
  const int hardware = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return automatic_threads(hardware, usable_cores(), session.local_size());
}

dist::ShardPlan rank_shard_plan(const config::Experiment& experiment, const ModelConfig& config, int world_size) {
  // Weights are held in memory in the compute dtype.
  const int64_t bytes_per_parameter = experiment.model.compute_dtype == config::ComputeDtype::float32 ? 4 : 2;
  return dist::make_shard_plan(config, world_size, bytes_per_parameter);
}

Tokenizer open_tokenizer(const config::Experiment& experiment) {
  return experiment.model.byte_level_tokens() ? Tokenizer::bytes() : Tokenizer::load(experiment.model.tokenizer);
}

double progress_interval_s(const config::RuntimeSection& runtime) {
  return runtime.progress_interval_s > 0 ? runtime.progress_interval_s : std::numeric_limits<double>::infinity();
}

std::unique_ptr<backend::Backend> open_backend(const config::Experiment& experiment, const dist::MpiSession& session) {
  return backend::make_backend({.device = std::string(config::name_of(experiment.runtime.device)),
                                .threads = math_threads(experiment.runtime, session),
                                .local_rank = session.local_rank()});
}

RankModel open_rank_model(const config::Experiment& experiment, const dist::MpiSession& session,
                          std::shared_ptr<const model::WeightSource> weights, bool weights_change) {
  RankModel out;
  out.backend = open_backend(experiment, session);
  const ModelConfig config = load_hf_config(experiment.model.path / "config.json");
  out.plan = rank_shard_plan(experiment, config, session.size());
  model::ModelOptions options;
  options.stream_weights = experiment.runtime.stream_weights;
  options.read_ahead = !weights_change;
  options.owns_expert = dist::owned_by(out.plan, session.rank());
  if (!weights) weights = std::make_shared<model::CheckpointWeights>(experiment.model.path);
  out.model = std::make_unique<model::Model>(config, std::move(weights), *out.backend, std::move(options));
  if (session.size() == 1)
    out.experts = std::make_unique<model::LocalExpertExecutor>();
  else
    out.experts = std::make_unique<dist::AlltoallExpertExecutor>(session.world(), out.plan);
  return out;
}

}  // namespace moqa::pipeline
