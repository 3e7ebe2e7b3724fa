#include "pipeline/quantize/quantized_checkpoint.h"

#include <limits>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "dist/mpi_session.h"
#include "quant/checkpoint.h"

namespace moqa::pipeline {
namespace {

io::DType model_dtype(const ModelConfig& config) {
  if (config.torch_dtype == "bfloat16") return io::DType::BF16;
  if (config.torch_dtype == "float16") return io::DType::F16;
  return io::DType::F32;
}

// Every rank's string on `root`, in rank order. Collective.
std::vector<std::string> gather_strings(const std::string& value, int root, MPI_Comm comm) {
  int rank = 0, size = 1;
  dist::check_mpi(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  dist::check_mpi(MPI_Comm_size(comm, &size), "MPI_Comm_size");
  MOQA_CHECK(value.size() <= static_cast<size_t>(std::numeric_limits<int>::max()), "gather_strings: message too long");
  const int length = static_cast<int>(value.size());
  std::vector<int> lengths(static_cast<size_t>(size)), offsets(static_cast<size_t>(size), 0);
  dist::check_mpi(MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, root, comm), "MPI_Gather (lengths)");
  std::string all;
  if (rank == root) {
    int64_t total = 0;
    for (int r = 0; r < size; ++r) {
      offsets[static_cast<size_t>(r)] = static_cast<int>(total);
      total += lengths[static_cast<size_t>(r)];
    }
    MOQA_CHECK(total <= std::numeric_limits<int>::max(), "gather_strings: messages too long");
    all.resize(static_cast<size_t>(total));
  }
  dist::check_mpi(
      MPI_Gatherv(value.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR, root, comm),
      "MPI_Gatherv (shard manifests)");
  std::vector<std::string> out;
  if (rank == root)
    for (int r = 0; r < size; ++r)
      out.push_back(all.substr(static_cast<size_t>(offsets[static_cast<size_t>(r)]),
                               static_cast<size_t>(lengths[static_cast<size_t>(r)])));
  return out;
}

// The rank that stores the replicated tensors of decoder layer `layer` (-1: the model-wide tensors).
int writer_of_layer(int64_t layer, int size) { return layer < 0 ? 0 : static_cast<int>(layer % size); }

}  // namespace

CheckpointPaths checkpoint_paths(const config::Experiment& experiment) {
  return {experiment.experiment.output_dir / "quantized-model", experiment.experiment.output_dir / "dequantized-model"};
}

void export_dequantized_model(const ModelConfig& config, const config::Experiment& experiment) {
  const CheckpointPaths paths = checkpoint_paths(experiment);
  quant::export_dequantized(quant::open_quantized_checkpoint(paths.quantized), paths.dequantized,
                            {.dtype = model_dtype(config)});
}

CheckpointPaths save_quantized_checkpoint(const QuantizedWeights& weights, const QuantizationPlan& plan,
                                          const ModelConfig& config, const config::Experiment& experiment,
                                          const allocate::Allocation& allocation, MPI_Comm comm) {
  int rank = 0, size = 1;
  dist::check_mpi(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  dist::check_mpi(MPI_Comm_size(comm, &size), "MPI_Comm_size");
  const CheckpointPaths paths = checkpoint_paths(experiment);

  std::map<std::string, quant::QuantizedMatrix> quantized;
  std::map<std::string, quant::ChannelCache> caches;  // routed experts' full-precision channels
  for (const QuantTarget& t : plan.targets) {
    const bool mine = t.is_routed_expert()
                          ? t.quantizer == rank
                          : writer_of_layer(t.kind == TensorKind::linear ? t.id.layer : -1, size) == rank;
    if (!mine) continue;
    const QuantizedWeights::Entry* entry = weights.entry(t.name);
    MOQA_CHECK(entry != nullptr, "quantized checkpoint: rank ", rank, " should store ", t.name,
               " but does not hold it");
    quantized.emplace(t.name, *entry->matrix);
    if (!entry->cache.empty()) caches.emplace(t.name, entry->cache);
  }
  // Full-precision tensors: whatever the model reads that the plan does not quantize.
  std::map<std::string, Tensor> full_precision;
  const model::WeightSource& original = weights.original();
  auto keep = [&](int writer, const std::string& name, const Shape& shape) {
    if (writer == rank && !weights.quantized_names().count(name))
      full_precision.emplace(name, original.load(name, shape));
  };
  keep(0, model::embedding_name(), {config.vocab_size, config.hidden_size});
  keep(0, model::final_norm_name(), {config.hidden_size});
  if (!config.tie_word_embeddings) keep(0, model::lm_head_name(), {config.vocab_size, config.hidden_size});
  for (int64_t layer = 0; layer < config.num_layers; ++layer) {
    const int writer = writer_of_layer(layer, size);
    for (const model::LinearId& id : model::layer_linears(config, layer, /*include_experts=*/true)) {
      const Shape shape = model::weight_shape(config, id);
      keep(writer, model::weight_name(config, id), shape);  // routed experts are always quantized: never kept
      if (const auto bias = model::bias_name(config, id)) {
        // A routed expert's bias lives with its owner, the only rank that loads it.
        const QuantTarget* target = id.is_routed_expert() ? plan.find(model::weight_name(config, id)) : nullptr;
        keep(target ? target->quantizer : writer, *bias, {shape[0]});
      }
    }
    for (const model::Vector v : model::layer_vectors(config, layer))
      keep(writer, model::vector_name(config, layer, v), model::vector_shape(config, v));
  }

  const quant::ShardManifest manifest = quant::write_quantized_shard(
      paths.quantized, rank, size, quantized, full_precision, {.full_precision_dtype = model_dtype(config)}, caches);
  quantized.clear();
  caches.clear();
  full_precision.clear();
  const std::vector<std::string> manifests = gather_strings(quant::manifest_to_json(manifest), 0, comm);
  CheckpointPaths written{paths.quantized, {}};
  if (rank == 0) {
    std::vector<quant::ShardManifest> shards;
    for (size_t r = 0; r < manifests.size(); ++r)
      shards.push_back(quant::manifest_from_json(manifests[r], cat("shard manifest of rank ", r)));
    quant::QuantizationSummary summary;
    summary.method = std::string(config::name_of(experiment.quantization.method));
    summary.allocation = allocate::to_string(allocation.method);
    summary.group_size = experiment.quantization.group_size;
    summary.symmetric = experiment.quantization.symmetric;
    summary.act_order = experiment.quantization.act_order;
    summary.true_sequential = experiment.quantization.true_sequential;
    for (const config::WeightGroup g : experiment.quantization.keep_full_precision)
      summary.full_precision.emplace_back(config::name_of(g));
    quant::write_quantized_index(paths.quantized, experiment.model.path, shards, summary);
    if (experiment.quantization.export_dequantized) export_dequantized_model(config, experiment);
  }
  // No rank goes on (and possibly reads the checkpoint) before it is complete.
  dist::check_mpi(MPI_Barrier(comm), "MPI_Barrier (quantized checkpoint)");
  if (experiment.quantization.export_dequantized) written.dequantized = paths.dequantized;
  return written;
}

}  // namespace moqa::pipeline
