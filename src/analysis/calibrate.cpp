#include "analysis/calibrate.h"


#include <algorithm>
#include <limits>
#include <memory>
#include <optional>

#include "model/hidden_store.h"
#include "analysis/reduce.h"
#include "analysis/statistics_observer.h"
#include "analysis/token_weights.h"
#include "analysis/weight_norms.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/units.h"
#include "data/shard.h"
#include "dist/mpi_session.h"

namespace moqa::analysis {

std::vector<int64_t> moe_layers(const ModelConfig& config) {
  std::vector<int64_t> layers;
  for (int64_t layer = 0; layer < config.num_layers; ++layer)
    if (config.is_moe_layer(layer)) layers.push_back(layer);
  return layers;
}

namespace {

// Windows of `rank`'s share that round `round` processes.
int64_t round_windows(int64_t windows, int rank, int world, int64_t round, int64_t batch_windows) {
  const int64_t share = data::shard_range(windows, rank, world).size();
  return std::clamp<int64_t>(share - round * batch_windows, 0, batch_windows);
}

void check_token_ids(const DistributionSample& sample, const ModelConfig& config) {
  for (size_t i = 0; i < sample.tokens.size(); ++i) {
    const int32_t id = sample.tokens[i];
    MOQA_CHECK(id >= 0 && id < config.vocab_size, "calibration \"", sample.name, "\": token ", i, " of ",
               sample.source.empty() ? std::string("the token stream") : sample.source, " has id ", id,
               ", outside the model's vocabulary [0, ", config.vocab_size, ") of ", config.source.string(),
               " (does the tokenizer belong to this model?)");
  }
}

// Every rank's `local` factors concatenated in rank order (collective over comm).
std::vector<double> all_ranks_token_weights(const std::vector<double>& local, MPI_Comm comm) {
  int size = 1;
  dist::check_mpi(MPI_Comm_size(comm, &size), "MPI_Comm_size");
  MOQA_CHECK(local.size() <= static_cast<size_t>(std::numeric_limits<int>::max()), "analysis: ", local.size(),
             " token weights in one batch exceed MPI's int count");
  const int mine = static_cast<int>(local.size());
  std::vector<int> counts(static_cast<size_t>(size), 0), displs(static_cast<size_t>(size), 0);
  dist::check_mpi(MPI_Allgather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, comm), "MPI_Allgather (token counts)");
  int64_t total = 0;
  for (int r = 0; r < size; ++r) {
    MOQA_CHECK(total <= std::numeric_limits<int>::max(), "analysis: token weights of one round exceed int counts");
    displs[static_cast<size_t>(r)] = static_cast<int>(total);
    total += counts[static_cast<size_t>(r)];
  }
  std::vector<double> all(static_cast<size_t>(total), 0.0);
  dist::check_mpi(MPI_Allgatherv(local.data(), mine, MPI_DOUBLE, all.data(), counts.data(), displs.data(), MPI_DOUBLE,
                                 comm),
                  "MPI_Allgatherv (token weights)");
  return all;
}

// One distribution's part of the pass: its metadata and options, and its batches in the store.
struct DistributionPass {
  DistributionStatistics out;
  std::vector<size_t> batches;                          // store indices, in batch order
  std::vector<std::vector<double>> token_weights;       // per batch: this rank's tokens (empty: all 1)
  std::vector<std::vector<double>> executor_weights;    // per batch: every rank's, in rank order (or empty)
};

DistributionStatistics metadata_of(const DistributionSample& sample) {
  DistributionStatistics out;
  out.name = sample.name;
  out.source = sample.source;
  out.seed = sample.seed;
  out.windows = static_cast<int64_t>(sample.window_starts.size());
  out.seq_len = sample.seq_len;
  out.stream_tokens = static_cast<int64_t>(sample.tokens.size());
  out.window_starts = sample.window_starts;
  return out;
}

// Embeds this rank's batches of `sample` into `store` and prepares their token weights. Collective (the
// executor's token weights are gathered per batch).
DistributionPass embed_distribution(CalibrationWorld& world, const DistributionSample& sample,
                                    const config::AnalysisSection& options, model::HiddenStateStore& store, int rank,
                                    int size) {
  model::Model& model = world.model;
  const ModelConfig& config = model.config();
  MOQA_CHECK(sample.seq_len > 0, "calibration \"", sample.name, "\": seq_len ", sample.seq_len);
  check_token_ids(sample, config);
  DistributionPass pass;
  pass.out = metadata_of(sample);
  const int64_t windows = pass.out.windows;

  // Stage 1 (activation) off: every routed (token, expert) pair weighs 1.
  const bool reweight = options.activation && options.token_reweighting > 0.0;
  const bool output_side = is_output_side(options.channel_significance);
  const std::vector<double> weight_of_id =
      reweight ? token_reweighting(sample.tokens, sample.window_starts, sample.seq_len, options.token_reweighting)
               : std::vector<double>{};

  const data::ShardRange mine = data::shard_range(windows, rank, size);
  const int64_t largest_share = data::shard_range(windows, 0, size).size();  // rank 0's is never smaller
  const int64_t rounds = (largest_share + world.batch_windows - 1) / world.batch_windows;
  for (int64_t round = 0; round < rounds; ++round) {
    const int64_t first = mine.begin + round * world.batch_windows;
    const int64_t count = round_windows(windows, rank, size, round, world.batch_windows);
    std::vector<double> token_weights;
    model::HiddenStates hidden;
    if (count > 0) {
      model::TokenBatch batch{.windows = count, .seq_len = sample.seq_len, .ids = {}};
      batch.ids.reserve(static_cast<size_t>(count * sample.seq_len));
      for (int64_t w = first; w < first + count; ++w) {
        const auto start = sample.tokens.begin() + sample.window_starts[static_cast<size_t>(w)];
        batch.ids.insert(batch.ids.end(), start, start + sample.seq_len);
      }
      token_weights.assign(batch.ids.size(), 1.0);
      if (reweight)
        for (size_t t = 0; t < batch.ids.size(); ++t) token_weights[t] = weight_of_id[static_cast<size_t>(batch.ids[t])];
      hidden = model.embed(batch);
    } else {
      // Keeps this rank in step with the others' expert exchanges.
      hidden = model::HiddenStates{0, sample.seq_len, model.backend().zeros({0, config.hidden_size})};
    }
    // The owners' rows are numbered over every rank's batch in rank order (statistics_observer.h).
    pass.executor_weights.push_back(reweight && output_side ? all_ranks_token_weights(token_weights, world.comm)
                                                            : std::vector<double>{});
    pass.token_weights.push_back(std::move(token_weights));
    pass.batches.push_back(store.add(std::move(hidden)));
  }
  return pass;
}

}  // namespace

std::vector<DistributionStatistics> measure_distributions(CalibrationWorld& world,
                                                          std::span<const DistributionSample> samples,
                                                          const config::AnalysisSection& options) {
  model::Model& model = world.model;
  const ModelConfig& config = model.config();
  int rank = 0, size = 1;
  dist::check_mpi(MPI_Comm_rank(world.comm, &rank), "MPI_Comm_rank");
  dist::check_mpi(MPI_Comm_size(world.comm, &size), "MPI_Comm_size");
  MOQA_CHECK(world.batch_windows > 0, "runtime.batch_windows: found ", world.batch_windows, ", expected > 0");
  MOQA_CHECK(world.plan.world_size == size, "analysis: expert plan for ", world.plan.world_size,
             " ranks used on a communicator of ", size);

  model::HiddenStateStore store(model.backend(), world.hidden_state_budget_bytes,
                         model::hidden_scratch_path(world.scratch_dir, "calibration", rank));
  std::vector<DistributionPass> passes;
  int64_t tokens = 0;  // all windows of all distributions, all ranks
  for (const DistributionSample& sample : samples) {
    passes.push_back(embed_distribution(world, sample, options, store, rank, size));
    tokens += passes.back().out.tokens();
  }
  if (world.progress != nullptr && store.bytes_spilled() > 0)
    *world.progress << "calibrate: hidden states of rank 0's windows: " << format_bytes(store.bytes_in_memory())
                    << " in memory, " << format_bytes(store.bytes_spilled()) << " in a scratch file in "
                    << world.scratch_dir.string()
                    << " (runtime.hidden_state_memory_mib = " << (world.hidden_state_budget_bytes >> 20) << ")\n";

  const bool gate_weighted = options.activation && options.router_weighted;
  const bool output_side = is_output_side(options.channel_significance);
  const bool sensitivity = options.channel_significance == config::ChannelSignificance::sensitivity;
  std::optional<quant::QuantSpec> reference;
  if (sensitivity)
    reference = quant::QuantSpec{.bits = options.sensitivity_bits, .group_size = world.sensitivity_group_size,
                                 .symmetric = world.sensitivity_symmetric};

  std::string label = "calibrate";
  for (size_t d = 0; d < passes.size(); ++d) label += cat(d ? ", " : " ", passes[d].out.name);
  Progress progress(label, config.num_layers, "layers", world.progress, world.progress_interval_s);
  for (int64_t layer = 0; layer < config.num_layers; ++layer) {
    const bool moe = config.is_moe_layer(layer);
    // One accumulator (and observer, which maps a layer to its accumulator) per distribution.
    std::vector<std::vector<LayerAccumulator>> accumulators(passes.size());
    std::vector<std::unique_ptr<StatisticsObserver>> observers;
    for (size_t d = 0; d < passes.size() && moe; ++d) {
      accumulators[d].push_back(make_layer_accumulator(layer, config.num_experts, config.hidden_size, config.top_k,
                                                       options.correlation,
                                                       output_side ? config.expert_intermediate_size : 0, sensitivity));
      observers.push_back(std::make_unique<StatisticsObserver>(model, accumulators[d], gate_weighted, reference));
    }
    for (size_t d = 0; d < passes.size(); ++d) {
      DistributionPass& pass = passes[d];
      StatisticsObserver* observer = moe ? observers[d].get() : nullptr;
      for (size_t b = 0; b < pass.batches.size(); ++b) {
        if (observer) observer->set_token_weights(pass.token_weights[b], pass.executor_weights[b]);
        model::HiddenStates hidden = store.take(pass.batches[b]);
        model.forward_layer(layer, hidden, {.experts = &world.experts, .observer = observer});
        store.put(pass.batches[b], std::move(hidden));
      }
    }
    observers.clear();
    for (size_t d = 0; d < passes.size() && moe; ++d) {
      LayerAccumulator& acc = accumulators[d].front();
      std::vector<double> norms, down_norms;
      if (options.channel_significance == config::ChannelSignificance::saliency) {
        norms = owned_column_norms(model, layer, world.plan, rank);
        reduce_sum_to_root(norms, world.comm);
      }
      if (options.channel_significance == config::ChannelSignificance::output_saliency) {
        down_norms = owned_down_column_norms(model, layer, world.plan, rank);
        reduce_sum_to_root(down_norms, world.comm);
      }
      reduce_to_root(acc, world.comm);
      if (rank == 0)
        passes[d].out.layers.push_back(
            derive_layer_statistics(std::move(acc), std::move(norms), std::move(down_norms), options));
    }
    progress.advance(1, layer_tokens(tokens, layer, config.num_layers));
  }
  progress.finish();

  std::vector<DistributionStatistics> out;
  for (DistributionPass& pass : passes) out.push_back(std::move(pass.out));
  return out;
}

DistributionStatistics measure_distribution(CalibrationWorld& world, const DistributionSample& sample,
                                            const config::AnalysisSection& options) {
  return std::move(measure_distributions(world, std::span<const DistributionSample>(&sample, 1), options).front());
}

std::vector<SynthesizedLayer> synthesize(const std::vector<DistributionStatistics>& distributions) {
  MOQA_CHECK(!distributions.empty(), "analysis: no calibration distribution to synthesize");
  const size_t layers = distributions.front().layers.size();
  std::vector<SynthesizedLayer> out;
  for (size_t l = 0; l < layers; ++l) {
    std::vector<std::vector<double>> per_distribution;
    LayerAccumulator pooled;
    for (const DistributionStatistics& d : distributions) {
      MOQA_CHECK(d.layers.size() == layers, "analysis: distribution \"", d.name, "\" has statistics of ",
                 d.layers.size(), " MoE layers, expected ", layers);
      const LayerAccumulator& sums = d.layers[l].sums;
      per_distribution.push_back(d.layers[l].expert_significance);
      if (pooled.experts == 0) {
        pooled = make_layer_accumulator(sums.layer, sums.experts, 1, sums.top_k, sums.coactivation_enabled);
      }
      pooled.tokens += sums.tokens;
      for (size_t e = 0; e < pooled.routed_count.size(); ++e) pooled.routed_count[e] += sums.routed_count[e];
      for (size_t e = 0; e < pooled.gate_mass.size(); ++e) pooled.gate_mass[e] += sums.gate_mass[e];
      for (size_t i = 0; i < pooled.coactivation.size(); ++i) pooled.coactivation[i] += sums.coactivation[i];
    }
    SynthesizedLayer s;
    s.layer = pooled.layer;
    s.significance = fit_significance(per_distribution);
    s.routed_fraction = routed_fraction(pooled);
    s.gate_mass = pooled.gate_mass;
    s.spearman_gate_mass = spearman(s.significance.mean, s.gate_mass);
    if (pooled.coactivation_enabled) {
      s.correlation = phi_correlation(pooled.coactivation, pooled.experts, pooled.tokens);
      s.coactivation = std::move(pooled.coactivation);
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace moqa::analysis
