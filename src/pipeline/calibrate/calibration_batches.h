#pragma once
// The calibration windows of the layer-major passes (the budgeted error profile and GPTQ's sequential
// protocol): every [[calibration]] distribution's sampled windows, pooled, embedded once and then carried
// through the model one decoder layer at a time.
//
// Batching is global and rank-independent: each distribution's window list (in [[calibration]] order) is
// cut into batches of runtime.batch_windows windows, and every batch is split contiguously over the ranks
// (data::shard_range). A batch's rows, concatenated in rank order, are therefore the rows a single process
// would run in that batch, in the same order - which is what makes the Hessians (and so the quantized
// weights) identical on any number of ranks: the expert executor hands each expert the concatenation of
// all ranks' rows in rank order, and the replicated linears' rows are gathered in rank order.
// Memory: each rank keeps its share of all windows' hidden states (windows x seq_len x hidden floats / ranks).
#include <mpi.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "analysis/calibration_data.h"
#include "config/experiment.h"
#include "model/expert_executor.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace moqa::pipeline {

struct CalibrationBatches {
  std::vector<model::HiddenStates> batches;  // this rank's part of each global batch (possibly no windows)
  std::vector<int64_t> batch_windows;        // windows of each global batch, all ranks together
  int64_t windows = 0;                       // all batches, all ranks
  int64_t tokens = 0;
};

// Every [[calibration]] distribution's sample (prepared as the calibrate stage does, same seeds, so the
// windows are the ones the statistics were measured on). Collective over `comm`.
std::vector<analysis::DistributionSample> load_calibration_samples(const config::Experiment& experiment,
                                                                   const Tokenizer& tokenizer, MPI_Comm comm);

CalibrationBatches embed_calibration_batches(model::Model& model,
                                             const std::vector<analysis::DistributionSample>& samples,
                                             int64_t batch_windows, int rank, int size);

// Runs decoder layer `layer` on every batch in order. Every rank must call it for the same layers (a rank
// with no windows in a batch still takes part in the expert exchange). in_place = false runs the layer on
// a copy of each batch, so the batches keep holding the layer's inputs. after_batch(b), if given, is called
// after batch b (e.g. to exchange what an observer collected).
void run_layer_on_batches(model::Model& model, model::ExpertExecutor& experts, int64_t layer,
                          CalibrationBatches& batches, model::ForwardObserver* observer, bool in_place,
                          const std::function<void(size_t batch)>& after_batch = {});

}  // namespace moqa::pipeline
