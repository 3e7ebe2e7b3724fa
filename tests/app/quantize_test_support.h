#pragma once
// Shared setup of the allocate/quantize tests: one rank's model of a tiny golden checkpoint
// (tests/data/arch/<family>) over a communicator, two in-memory token distributions, an experiment with the
// quantization keys the tests vary, a deterministic allocation, and comparisons of quantized matrices.
#include <gtest/gtest.h>
#include <mpi.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "allocate/allocation.h"
#include "analysis/calibration_data.h"
#include "backend/cpu/cpu_backend.h"
#include "config/experiment.h"
#include "dist/alltoall_executor.h"
#include "model/expert_executor.h"
#include "model/model.h"
#include "pipeline/calibrate/calibration_batches.h"
#include "pipeline/quantize/layer_pass.h"
#include "pipeline/quantize/quantization_plan.h"
#include "pipeline/quantize/quantize_pass.h"
#include "pipeline/quantize/quantized_weights.h"
#include "support/test_support.h"

namespace moqa::pipeline::testing {

inline int rank_of(MPI_Comm comm) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  return rank;
}
inline int size_of(MPI_Comm comm) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  return size;
}

inline std::filesystem::path arch_dir(const std::string& family) { return test::data_dir() / "arch" / family; }

// Two distributions over the tiny models' 512-token vocabulary: byte ids of repetitive English, and
// pseudo-random ids from the upper half.
inline std::vector<analysis::DistributionSample> token_samples(int64_t windows = 5, int64_t seq_len = 16) {
  const std::string text = "the experts of a mixture route each token to a few of them; some see many tokens. ";
  std::vector<int32_t> prose, numbers(2000);
  uint32_t state = 12345;
  while (prose.size() < 2000) {
    state = state * 1664525u + 1013904223u;
    for (size_t i = (state >> 8) % text.size(); i < text.size() && prose.size() < 2000; ++i)
      prose.push_back(static_cast<unsigned char>(text[i]));
  }
  for (auto& id : numbers) {
    state = state * 22695477u + 1u;
    id = 256 + static_cast<int32_t>((state >> 16) % 256);
  }
  return {analysis::sample_distribution("prose", prose, seq_len, windows, 1),
          analysis::sample_distribution("numbers", numbers, seq_len, windows, 2)};
}

// An experiment over `family` with every stage's defaults except the keys the tests set.
inline config::Experiment experiment_for(const std::string& family, config::QuantMethod method,
                                         std::vector<config::WeightGroup> keep_full_precision,
                                         int64_t group_size = 16) {
  config::Experiment e;
  e.experiment.name = "quantize-test";
  e.model.path = arch_dir(family);
  e.allocation.method = config::AllocationMethod::moqa;
  e.allocation.target_bits = 3.0;
  e.quantization.method = method;
  e.quantization.group_size = group_size;
  e.quantization.keep_full_precision = std::move(keep_full_precision);
  return e;
}

// A fixed allocation that uses every candidate: bits[l][e] = {2, 4, 6, 8}[(l + e) % 4].
inline allocate::BitMatrix mixed_bits(const ModelConfig& config) {
  allocate::BitMatrix bits;
  for (int64_t layer = 0, l = 0; layer < config.num_layers; ++layer) {
    if (!config.is_moe_layer(layer)) continue;
    bits.emplace_back();
    for (int64_t e = 0; e < config.num_experts; ++e) bits.back().push_back(2 + 2 * static_cast<int>((l + e) % 4));
    ++l;
  }
  return bits;
}

// One rank's model (only its experts), its executor and the expert plan, over `comm`.
struct RankSetup {
  std::unique_ptr<backend::CpuBackend> backend;
  ModelConfig config;
  dist::ShardPlan plan;
  std::unique_ptr<model::Model> model;
  std::unique_ptr<model::ExpertExecutor> experts;

  LayerPassWorld world(MPI_Comm comm) {
    return LayerPassWorld{.model = *model, .experts = *experts, .comm = comm, .plan = plan};
  }
};

inline RankSetup open_rank(const std::filesystem::path& dir, MPI_Comm comm,
                           std::shared_ptr<const model::WeightSource> weights = nullptr) {
  RankSetup s;
  s.backend = std::make_unique<backend::CpuBackend>(backend::CpuOptions{.threads = 1});
  s.config = load_hf_config(dir / "config.json");
  s.plan = dist::make_shard_plan(s.config, size_of(comm));
  if (!weights) weights = std::make_shared<model::CheckpointWeights>(dir);
  s.model = std::make_unique<model::Model>(s.config, std::move(weights), *s.backend,
                                           model::ModelOptions{.owns_expert = dist::owned_by(s.plan, rank_of(comm))});
  if (size_of(comm) == 1)
    s.experts = std::make_unique<model::LocalExpertExecutor>();
  else
    s.experts = std::make_unique<dist::AlltoallExpertExecutor>(comm, s.plan);
  return s;
}

// The whole quantize stage's work on `comm` (GPTQ: embedding by RTN, then the sequential pass), returning
// the sealed store. `settings` from the experiment.
struct Quantized {
  QuantizationPlan plan;
  std::shared_ptr<QuantizedWeights> store;
  QuantizeReport report;
};

inline Quantized quantize_model(const config::Experiment& e, const allocate::BitMatrix& bits, MPI_Comm comm,
                                int64_t batch_windows, const ChannelSets* channels = nullptr) {
  const ModelConfig config = load_hf_config(e.model.path / "config.json");
  Quantized q;
  q.plan = plan_quantization(config, e, bits, dist::make_shard_plan(config, size_of(comm)));
  check_group_sizes(q.plan, e.quantization.group_size);
  const std::vector<std::string> names = q.plan.names();
  q.store = std::make_shared<QuantizedWeights>(std::make_shared<model::CheckpointWeights>(e.model.path),
                                               std::set<std::string>(names.begin(), names.end()));
  const QuantizerSettings settings = quantizer_settings(e.quantization);
  if (settings.method == config::QuantMethod::rtn) {
    std::vector<size_t> all(q.plan.targets.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = i;
    q.report = quantize_from_original(q.plan, all, settings, *q.store, channels, comm);
  } else {
    std::vector<size_t> embedding;
    for (size_t i = 0; i < q.plan.targets.size(); ++i)
      if (q.plan.targets[i].kind == TensorKind::embedding) embedding.push_back(i);
    const QuantizeReport embedded = quantize_from_original(q.plan, embedding, settings, *q.store, channels, comm);
    RankSetup rank = open_rank(e.model.path, comm, q.store);
    CalibrationBatches batches =
        embed_calibration_batches(*rank.model, token_samples(), batch_windows, rank_of(comm), size_of(comm));
    LayerPassWorld world = rank.world(comm);
    q.report = quantize_sequential(world, batches, q.plan, settings, *q.store, channels);
    q.report.tensors += embedded.tensors;
  }
  q.store->seal();
  return q;
}

inline void expect_same_matrix(const quant::QuantizedMatrix& a, const quant::QuantizedMatrix& b,
                               const std::string& what) {
  EXPECT_EQ(a.rows, b.rows) << what;
  EXPECT_EQ(a.cols, b.cols) << what;
  EXPECT_EQ(a.bits, b.bits) << what;
  EXPECT_EQ(a.group_size, b.group_size) << what;
  EXPECT_EQ(a.packed, b.packed) << what << ": codes differ";
  EXPECT_EQ(a.scales, b.scales) << what << ": scales differ";
  EXPECT_EQ(a.zeros, b.zeros) << what << ": zeros differ";
  EXPECT_EQ(a.g_idx, b.g_idx) << what << ": g_idx differ";
}

}  // namespace moqa::pipeline::testing
