#include "app/rank_model.h"

#include <algorithm>
#include <thread>

#include "backend/factory.h"
#include "dist/alltoall_executor.h"
#include "io/hf_config.h"

namespace moqa::app {

int math_threads(const config::RuntimeSection& runtime, const dist::MpiSession& session) {
  if (runtime.threads > 0) return static_cast<int>(runtime.threads);
  const int hardware = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, hardware / std::max(1, session.local_size()));
}

RankModel open_rank_model(const config::Experiment& experiment, const dist::MpiSession& session) {
  RankModel out;
  out.backend = backend::make_backend(
      {.device = std::string(config::name_of(experiment.runtime.device)), .threads = math_threads(experiment.runtime, session)});
  const ModelConfig config = load_hf_config(experiment.model.path / "config.json");
  // Weights held per parameter, as in --dry-run's plan.
  const int64_t bytes_per_parameter = experiment.model.compute_dtype == config::ComputeDtype::float32 ? 4 : 2;
  out.plan = dist::make_shard_plan(config, session.size(), bytes_per_parameter);
  model::ModelOptions options;
  options.stream_weights = experiment.runtime.stream_weights;
  options.owns_expert = dist::owned_by(out.plan, session.rank());
  out.model = std::make_unique<model::Model>(config, std::make_shared<model::CheckpointWeights>(experiment.model.path),
                                             *out.backend, std::move(options));
  if (session.size() == 1)
    out.experts = std::make_unique<model::LocalExpertExecutor>();
  else
    out.experts = std::make_unique<dist::AlltoallExpertExecutor>(session.world(), out.plan);
  return out;
}

}  // namespace moqa::app
