#pragma once
// The model as one rank of a run holds it: the backend of runtime.device/threads, the expert-to-rank
// plan (the same as --dry-run's), the model with only this rank's routed experts loaded, and the
// executor that runs a MoE layer's experts (expert-parallel over MPI on several ranks, local on one).
// Every stage that runs the model opens it, and its tokenizer, through here.
#include <cstdint>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "config/experiment.h"
#include "dist/mpi_session.h"
#include "dist/shard_plan.h"
#include "model/expert_executor.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace moqa::pipeline {

struct RankModel {
  std::unique_ptr<backend::Backend> backend;
  dist::ShardPlan plan;
  std::unique_ptr<model::Model> model;
  std::unique_ptr<model::ExpertExecutor> experts;
};

// The backend of runtime.device / runtime.threads for this rank (open_rank_model's).
std::unique_ptr<backend::Backend> open_backend(const config::Experiment& experiment, const dist::MpiSession& session);

// Collective when there are several ranks (the executor duplicates the world communicator). A missing
// or mis-shaped tensor of an owned expert throws on the owning rank only; the caller aborts the job.
// `weights`: where the model's tensors come from; null = the checkpoint of experiment.model.path (e.g.
// the quantize stage's RunContext::quantized_weights gives the quantized model). weights_change: the
// caller adds to `weights` while the model runs, so the model must not read layers ahead on another
// thread (ModelOptions::read_ahead; under stream_weights it does otherwise).
RankModel open_rank_model(const config::Experiment& experiment, const dist::MpiSession& session,
                          std::shared_ptr<const model::WeightSource> weights = nullptr, bool weights_change = false);

// The expert-to-rank plan open_rank_model uses (for stages that need it before opening the model, and
// --dry-run's preview for any world size).
dist::ShardPlan rank_shard_plan(const config::Experiment& experiment, const ModelConfig& config, int world_size);

// The experiment's tokenizer: byte-level ids (model.tokenizer = "bytes") or its tokenizer.json.
Tokenizer open_tokenizer(const config::Experiment& experiment);

// Seconds between a stage's progress lines: runtime.progress_interval_s, or (0) infinity, so that only
// each stage's final line is printed.
double progress_interval_s(const config::RuntimeSection& runtime);

// runtime.threads, or (0) automatic_threads of this process and node.
int math_threads(const config::RuntimeSection& runtime, const dist::MpiSession& session);

// The cores this process may run on (its CPU affinity: mpirun binds each rank to one core by default).
int usable_cores();
// Automatic math threads: the hardware threads shared among the ranks of the node, no more than the
// cores this rank may use, at least 1.
int automatic_threads(int hardware_threads, int usable_cores, int ranks_on_node);
// A warning when runtime.threads asks for more threads than the rank's cores ("" when it does not):
// they would take turns on the same cores.
std::string thread_binding_warning(int64_t configured_threads, int usable_cores);

}  // namespace moqa::pipeline
