#include "pipeline/calibrate/calibration_batches.h"

#include <algorithm>

#include "core/error.h"
#include "data/shard.h"

namespace moqa::pipeline {

std::vector<analysis::DistributionSample> load_calibration_samples(const config::Experiment& experiment,
                                                                   const Tokenizer& tokenizer, MPI_Comm comm) {
  std::vector<analysis::DistributionSample> out;
  for (const config::CalibrationSet& set : experiment.calibration)
    out.push_back(analysis::prepare_distribution(set, tokenizer, experiment.experiment.seed, comm));
  return out;
}

CalibrationBatches embed_calibration_batches(model::Model& model,
                                             const std::vector<analysis::DistributionSample>& samples,
                                             int64_t batch_windows, int rank, int size) {
  MOQA_CHECK(batch_windows > 0, "runtime.batch_windows: found ", batch_windows, ", expected > 0");
  const ModelConfig& config = model.config();
  CalibrationBatches out;
  for (const analysis::DistributionSample& sample : samples) {
    const auto windows = static_cast<int64_t>(sample.window_starts.size());
    for (int64_t first = 0; first < windows; first += batch_windows) {
      const int64_t count = std::min(batch_windows, windows - first);
      const data::ShardRange mine = data::shard_range(count, rank, size);
      model::TokenBatch batch{.windows = mine.size(), .seq_len = sample.seq_len, .ids = {}};
      batch.ids.reserve(static_cast<size_t>(mine.size() * sample.seq_len));
      for (int64_t w = first + mine.begin; w < first + mine.end; ++w) {
        const int64_t start = sample.window_starts[static_cast<size_t>(w)];
        MOQA_CHECK(start >= 0 && start + sample.seq_len <= static_cast<int64_t>(sample.tokens.size()), "calibration \"",
                   sample.name, "\": window ", w, " starts at token ", start, " of a stream of ", sample.tokens.size());
        for (int64_t t = start; t < start + sample.seq_len; ++t) {
          const int32_t id = sample.tokens[static_cast<size_t>(t)];
          MOQA_CHECK(id >= 0 && id < config.vocab_size, "calibration \"", sample.name, "\": token ", t, " has id ", id,
                     ", outside the model's vocabulary [0, ", config.vocab_size,
                     ") (does the tokenizer belong to this model?)");
          batch.ids.push_back(id);
        }
      }
      out.batches.push_back(model.embed(batch));
      out.batch_windows.push_back(count);
      out.windows += count;
      out.tokens += count * sample.seq_len;
    }
  }
  return out;
}

void run_layer_on_batches(model::Model& model, model::ExpertExecutor& experts, int64_t layer,
                          CalibrationBatches& batches, model::ForwardObserver* observer, bool in_place,
                          const std::function<void(size_t batch)>& after_batch) {
  const model::LayerContext context{.experts = &experts, .observer = observer};
  for (size_t b = 0; b < batches.batches.size(); ++b) {
    model::HiddenStates& hidden = batches.batches[b];
    if (in_place) {
      model.forward_layer(layer, hidden, context);
    } else {
      model::HiddenStates scratch{hidden.windows, hidden.seq_len, model.backend().copy(hidden.values)};
      model.forward_layer(layer, scratch, context);
    }
    if (after_batch) after_batch(b);
  }
}

}  // namespace moqa::pipeline
