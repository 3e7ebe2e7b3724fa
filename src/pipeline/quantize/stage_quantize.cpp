#include "pipeline/quantize/stage_quantize.h"

#include <array>
#include <chrono>
#include <numeric>
#include <optional>
#include <ostream>
#include <set>

#include "core/build_info.h"
#include "core/error.h"
#include "dist/mpi_session.h"
#include "pipeline/allocate/stage_allocate.h"
#include "pipeline/calibrate/calibration_batches.h"
#include "pipeline/channel_adjustment.h"
#include "pipeline/driver.h"
#include "pipeline/quantize/quantization_plan.h"
#include "pipeline/quantize/quantization_results.h"
#include "pipeline/quantize/quantize_pass.h"
#include "pipeline/quantize/quantized_checkpoint.h"
#include "pipeline/quantize/quantized_weights.h"
#include "pipeline/quantize/quantizer.h"
#include "pipeline/rank_model.h"
#include "pipeline/results_file.h"
#include "pipeline/resume/checkpoint_reuse.h"

namespace moqa::pipeline {
namespace {

int64_t sum_over_ranks(int64_t value, MPI_Comm comm) {
  int64_t total = 0;
  dist::check_mpi(MPI_Allreduce(&value, &total, 1, MPI_INT64_T, MPI_SUM, comm), "MPI_Allreduce (quantize counts)");
  return total;
}

// Entries served from the channel cache and entries of all quantized tensors: the experts counted on their
// owners, the replicated tensors once (rank 0).
std::array<int64_t, 2> element_counts(const QuantizedWeights& store, const QuantizationPlan& plan, int rank,
                                      MPI_Comm comm) {
  int64_t cached = 0, quantized = 0;
  for (const QuantTarget& t : plan.targets) {
    const bool counted_here = t.is_routed_expert() ? t.quantizer == rank : rank == 0;
    if (!counted_here) continue;
    quantized += element_count(t.shape);
    if (const QuantizedWeights::Entry* e = store.entry(t.name)) cached += e->cache.cached_elements();
  }
  return {sum_over_ranks(cached, comm), sum_over_ranks(quantized, comm)};
}

}  // namespace

void run_quantize_stage(RunContext& context) {
  const auto start = std::chrono::steady_clock::now();
  const config::Experiment& e = context.experiment;
  const dist::MpiSession& session = context.session;
  const bool root = session.is_root();
  std::ostream* log = root ? &context.log : nullptr;
  if (!context.allocation) {
    context.log << "quantize: this run has no allocate stage; allocating (" << config::name_of(e.allocation.method)
                << ") first\n";
    run_allocate_stage(context);
  }
  const ModelConfig config = load_hf_config(e.model.path / "config.json");
  const QuantizationPlan plan =
      plan_quantization(config, e, context.allocation->bits, rank_shard_plan(e, config, session.size()));
  check_group_sizes(plan, e.quantization.group_size);
  const QuantizerSettings settings = quantizer_settings(e.quantization);
  const std::vector<std::string> names = plan.names();
  const auto original = std::make_shared<model::CheckpointWeights>(e.model.path);
  auto empty_store = [&] {
    return std::make_shared<QuantizedWeights>(original, std::set<std::string>(names.begin(), names.end()));
  };
  auto store = empty_store();
  const ChannelSets* channels = context.channel_adjustment ? &context.channel_adjustment->channels : nullptr;
  const double interval = progress_interval_s(e.runtime);
  context.log << "quantize: " << names.size() << " tensors (" << config::name_of(settings.method)
              << "), routed experts at "
              << "their allocated widths, other quantized weights at " << plan.non_expert_bits << " bits"
              << (channels ? "; channel cache on" : "") << "\n";

  // The key of this run's checkpoint: compared with an earlier one's (runtime.resume), recorded with a new one.
  const bool saves = e.quantization.save_checkpoint || e.quantization.export_dequantized;
  const ResumeKey key =
      root && saves ? quantized_checkpoint_key(e, session, context.allocation->bits, plan, channels) : ResumeKey{};
  std::optional<ReusedCheckpoint> reused;
  if (e.runtime.resume && saves) {
    reused = reuse_checkpoint(e, session, context.log, key, plan, channels, *store);
    if (!reused) store = empty_store();
  } else if (e.runtime.resume) {
    context.log << "quantize: not reusing a quantized checkpoint (runtime.resume): this run saves none "
                   "(quantization.save_checkpoint), and only a saved one is reused\n";
  }

  QuantizeReport report;
  if (reused) {
    report = reused->record.report;
  } else if (settings.method == config::QuantMethod::rtn) {
    std::vector<size_t> all(plan.targets.size());
    std::iota(all.begin(), all.end(), size_t{0});
    report = quantize_from_original(plan, all, settings, *store, channels, session.world(), log, interval);
  } else {
    // The embedding table (RTN) must be in the store before the model reads it: layer 0's inputs then
    // come from the quantized embeddings, as they will at evaluation.
    std::vector<size_t> embedding;
    for (size_t i = 0; i < plan.targets.size(); ++i)
      if (plan.targets[i].kind == TensorKind::embedding) embedding.push_back(i);
    const QuantizeReport embedded =
        quantize_from_original(plan, embedding, settings, *store, channels, session.world(), nullptr, interval);
    RankModel ranked = open_rank_model(e, session, store, /*weights_change=*/true);  // the store grows layer by layer
    const auto samples = load_calibration_samples(e, open_tokenizer(e), session.world());
    CalibrationBatches batches =
        embed_calibration_batches(*ranked.model, samples, e.runtime.batch_windows, session.rank(), session.size());
    context.log << "quantize: GPTQ over " << batches.windows << " calibration windows (" << batches.tokens
                << " tokens) on " << session.size() << (session.size() == 1 ? " rank, " : " ranks, ")
                << ranked.backend->describe() << "\n";
    LayerPassWorld world{.model = *ranked.model,
                         .experts = *ranked.experts,
                         .comm = session.world(),
                         .plan = ranked.plan,
                         .progress = log,
                         .progress_interval_s = interval};
    report = quantize_sequential(world, batches, plan, settings, *store, channels);
    report.tensors += embedded.tensors;
  }
  store->seal();
  context.quantized_weights = store;
  const auto [cached, quantized] = element_counts(*store, plan, session.rank(), session.world());
  context.log << "quantize: " << report.tensors << (reused ? " tensors loaded from the checkpoint" : " tensors quantized")
              << (report.rtn_fallbacks
                      ? cat(" (", report.rtn_fallbacks, " with RTN: no calibration token reached them)")
                      : std::string())
              << (channels ? cat("; ", cached, " of ", quantized, " quantized entries cached in full precision") : "")
              << "\n";

  std::vector<NovelRecord> novel;
  context.novel_weights.clear();
  if (context.channel_adjustment) {
    for (const NovelAllocation& n : context.channel_adjustment->novel) {
      NovelWeights adjusted = novel_weights(*store, plan, n);
      novel.push_back({.name = n.name,
                       .changed_experts = static_cast<int64_t>(n.changes.size()),
                       .requantized_tensors = sum_over_ranks(adjusted.requantized_tensors, session.world()),
                       .requantized_elements = sum_over_ranks(adjusted.requantized_elements, session.world())});
      context.novel_weights[n.name] = std::move(adjusted.weights);
      context.log << "quantize: novel distribution \"" << n.name << "\": cached channels of "
                  << novel.back().changed_experts << " experts re-quantized (" << novel.back().requantized_tensors
                  << " tensors)\n";
    }
  }

  CheckpointPaths written;
  if (reused) {
    written.quantized = reused->dir;
    if (e.quantization.export_dequantized) {
      context.log << "quantize: exporting the dequantized model\n";
      if (root) export_dequantized_model(config, e);
      dist::check_mpi(MPI_Barrier(session.world()), "MPI_Barrier (dequantized export)");
      written.dequantized = checkpoint_paths(e).dequantized;
    }
  } else if (saves) {
    context.log << "quantize: writing the checkpoint (every rank its shard)\n";
    context.log.flush();
    // The record goes first and comes back last: it only ever stands next to the shards it describes.
    if (root) remove_checkpoint_record(checkpoint_paths(e).quantized);
    written = save_quantized_checkpoint(*store, plan, config, e, *context.allocation, session.world());
    if (root)
      write_checkpoint_record(written.quantized,
                              {.key = key, .report = report, .git_commit = build_info::git_commit, .utc = utc_now()});
  }
  if (saves) {
    context.log << "quantize: checkpoint " << written.quantized.string()
                << (written.dequantized.empty() ? std::string()
                                                : cat(", dequantized export ", written.dequantized.string()))
                << (channels ? " (baseline codes; the channel cache is not part of the format)" : "") << "\n";
  }
  if (context.results) {
    write_quantization(*context.results,
                       {.experiment = e,
                        .plan = plan,
                        .report = report,
                        .cached_elements = cached,
                        .quantized_elements = quantized,
                        .checkpoint = written.quantized.string(),
                        .dequantized_checkpoint = written.dequantized.string(),
                        .novel = novel,
                        .reused = reused ? &reused->record : nullptr,
                        .seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()});
  }
}

}  // namespace moqa::pipeline
