#include "analysis/calibrate.h"

#include <algorithm>
#include <limits>
#include <optional>

#include "analysis/reduce.h"
#include "analysis/statistics_observer.h"
#include "analysis/token_weights.h"
#include "analysis/weight_norms.h"
#include "core/error.h"
#include "core/progress.h"
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

}  // namespace

DistributionStatistics measure_distribution(CalibrationWorld& world, const DistributionSample& sample,
                                            const config::AnalysisSection& options) {
  model::Model& model = world.model;
  const ModelConfig& config = model.config();
  int rank = 0, size = 1;
  dist::check_mpi(MPI_Comm_rank(world.comm, &rank), "MPI_Comm_rank");
  dist::check_mpi(MPI_Comm_size(world.comm, &size), "MPI_Comm_size");
  MOQA_CHECK(world.batch_windows > 0, "runtime.batch_windows: found ", world.batch_windows, ", expected > 0");
  MOQA_CHECK(world.plan.world_size == size, "analysis: expert plan for ", world.plan.world_size,
             " ranks used on a communicator of ", size);
  MOQA_CHECK(sample.seq_len > 0, "calibration \"", sample.name, "\": seq_len ", sample.seq_len);
  check_token_ids(sample, config);

  DistributionStatistics out;
  out.name = sample.name;
  out.source = sample.source;
  out.seed = sample.seed;
  out.windows = static_cast<int64_t>(sample.window_starts.size());
  out.seq_len = sample.seq_len;
  out.stream_tokens = static_cast<int64_t>(sample.tokens.size());
  out.window_starts = sample.window_starts;

  // Stage 1 (activation) off: every routed (token, expert) pair weighs 1.
  const bool reweight = options.activation && options.token_reweighting > 0.0;
  const bool gate_weighted = options.activation && options.router_weighted;
  const std::vector<double> weight_of_id =
      reweight ? token_reweighting(sample.tokens, sample.window_starts, sample.seq_len, options.token_reweighting)
               : std::vector<double>{};

  const std::vector<int64_t> layers = moe_layers(config);
  const bool output_side = is_output_side(options.channel_significance);
  const bool sensitivity = options.channel_significance == config::ChannelSignificance::sensitivity;
  std::vector<LayerAccumulator> accumulators;
  for (const int64_t layer : layers)
    accumulators.push_back(make_layer_accumulator(layer, config.num_experts, config.hidden_size, config.top_k,
                                                  options.correlation,
                                                  output_side ? config.expert_intermediate_size : 0, sensitivity));
  std::optional<quant::QuantSpec> reference;
  if (sensitivity)
    reference = quant::QuantSpec{.bits = options.sensitivity_bits, .group_size = world.sensitivity_group_size,
                                 .symmetric = world.sensitivity_symmetric};
  StatisticsObserver observer(model, accumulators, gate_weighted, reference);
  const model::LayerContext context{.experts = &world.experts, .observer = &observer};

  const data::ShardRange mine = data::shard_range(out.windows, rank, size);
  const int64_t largest_share = data::shard_range(out.windows, 0, size).size();  // rank 0's is never smaller
  const int64_t rounds = (largest_share + world.batch_windows - 1) / world.batch_windows;
  Progress progress(cat("calibrate ", sample.name), out.windows, "windows", world.progress,
                    world.progress_interval_s);
  std::vector<double> token_weights, executor_token_weights;
  for (int64_t round = 0; round < rounds; ++round) {
    const int64_t first = mine.begin + round * world.batch_windows;
    const int64_t count = round_windows(out.windows, rank, size, round, world.batch_windows);
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
      token_weights.clear();
      hidden = model::HiddenStates{0, sample.seq_len, model.backend().zeros({0, config.hidden_size})};
    }
    // The owners' rows are numbered over every rank's batch in rank order (statistics_observer.h).
    if (reweight && output_side) executor_token_weights = all_ranks_token_weights(token_weights, world.comm);
    observer.set_token_weights(token_weights, executor_token_weights);
    for (int64_t layer = 0; layer < config.num_layers; ++layer) model.forward_layer(layer, hidden, context);

    int64_t done = 0;
    for (int r = 0; r < size; ++r) done += round_windows(out.windows, r, size, round, world.batch_windows);
    progress.advance(done, done * sample.seq_len);
  }
  progress.finish();

  for (LayerAccumulator& acc : accumulators) {
    std::vector<double> norms, down_norms;
    if (options.channel_significance == config::ChannelSignificance::saliency) {
      norms = owned_column_norms(model, acc.layer, world.plan, rank);
      reduce_sum_to_root(norms, world.comm);
    }
    if (options.channel_significance == config::ChannelSignificance::output_saliency) {
      down_norms = owned_down_column_norms(model, acc.layer, world.plan, rank);
      reduce_sum_to_root(down_norms, world.comm);
    }
    reduce_to_root(acc, world.comm);
    if (rank == 0)
      out.layers.push_back(derive_layer_statistics(std::move(acc), std::move(norms), std::move(down_norms), options));
    acc = LayerAccumulator{};  // frees the layer's memory on every rank
  }
  return out;
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
