#include "pipeline/allocate/stage_allocate.h"

#include <cstdio>
#include <map>
#include <optional>
#include <ostream>
#include <string>

#include "allocate/reallocate.h"
#include "analysis/allocation_input.h"
#include "core/error.h"
#include "pipeline/allocate/allocation_options.h"
#include "pipeline/allocate/allocation_results.h"
#include "pipeline/allocate/allocation_sync.h"
#include "pipeline/allocate/error_profile.h"
#include "pipeline/allocate/novel_profile.h"
#include "pipeline/calibrate/calibration_batches.h"
#include "pipeline/calibrate/stage_calibrate.h"
#include "pipeline/channel_adjustment.h"
#include "pipeline/driver.h"
#include "pipeline/quantize/quantization_plan.h"
#include "pipeline/rank_model.h"
#include "pipeline/resume/calibration_reuse.h"
#include "tokenizer/tokenizer.h"

namespace moqa::pipeline {
namespace {

// Without statistics (uniform, no calibrate stage): the shape and sizes only.
allocate::AllocationInput shape_only_input(const ModelConfig& config) {
  allocate::AllocationInput input;
  for (int64_t layer = 0; layer < config.num_layers; ++layer) {
    if (!config.is_moe_layer(layer)) continue;
    allocate::MoeLayerStats stats;
    stats.experts.assign(static_cast<size_t>(config.num_experts),
                         allocate::ExpertStats{.params = config.expert_parameter_count()});
    input.layers.push_back(std::move(stats));
  }
  return input;
}

// "2 bits x 10, 4 bits x 5, 8 bits x 1"
std::string width_histogram(const allocate::BitMatrix& bits) {
  std::map<int, int64_t> count;
  for (const auto& layer : bits)
    for (const int b : layer) ++count[b];
  std::string out;
  for (const auto& [b, n] : count) out += cat(out.empty() ? "" : ", ", b, " bits x ", n);
  return out;
}

std::string fixed(double value, int digits = 3) {
  char text[32];
  std::snprintf(text, sizeof text, "%.*f", digits, value);
  return text;
}

struct Workspace {
  const config::Experiment& experiment;
  const dist::MpiSession& session;
  std::optional<RankModel> ranked;  // the full-precision model, opened when first needed
  std::optional<Tokenizer> tokenizer;

  RankModel& model() {
    if (!ranked) ranked = open_rank_model(experiment, session);
    return *ranked;
  }
  const Tokenizer& tokens() {
    if (!tokenizer) tokenizer = open_tokenizer(experiment);
    return *tokenizer;
  }
};

ChannelAdjustmentPlan plan_channels(RunContext& context, Workspace& work, const ModelConfig& config,
                                    const allocate::AllocationInput& input,
                                    const allocate::AllocationOptions& options) {
  const config::Experiment& e = context.experiment;
  const dist::MpiSession& session = context.session;
  const bool root = session.is_root();
  MOQA_CHECK(context.calibration && context.calibration->distributions.size() >= 2,
             "quantization.channel_adjustment needs the statistics of at least two [[calibration]] distributions in "
             "this run (the cached channels are those whose significance changes most between them)");
  ChannelAdjustmentPlan plan;
  const allocate::ChannelPlanOptions channel_options = channel_plan_options(e.analysis);
  plan.fraction = channel_options.fraction;
  plan.measure = allocate::to_string(channel_options.measure);
  if (root) {
    const auto selections = allocate::plan_dynamic_channels(
        analysis::channel_significance_by_expert(*context.calibration), channel_options);
    for (const auto& layer : selections) {
      plan.channels.emplace_back();
      plan.change.emplace_back();
      for (const allocate::ChannelSelection& s : layer) {
        plan.channels.back().push_back(s.channels);
        plan.change.back().push_back(s.change);
      }
    }
  }
  // Rank 0: the bits the model stores with its cached channels, the baseline or adjusted to a novel set.
  const auto stored_report = [&](const NovelAllocation* novel) {
    return stored_bits(input, context.allocation->bits, plan, params_per_cached_channel(config), novel);
  };
  // cache_only: the control without re-allocation; novel sets are served by the baseline with its cache.
  const bool reallocate = e.quantization.channel_adjustment == config::ChannelAdjustment::reallocate;
  for (const config::EvaluationSet& set : e.evaluation) {
    if (!reallocate) break;
    if (set.distribution != config::Distribution::novel || set.kind != config::EvalKind::perplexity) continue;
    RankModel& m = work.model();
    const NovelProfileText profile = novel_profile_text(e, set, work.tokens());
    const analysis::DistributionSample& sample = profile.sample;
    analysis::CalibrationWorld world = calibration_world(context, m);
    const analysis::DistributionStatistics stats = analysis::measure_distribution(world, sample, e.analysis);
    if (!root) continue;
    NovelAllocation novel;
    novel.name = set.name;
    novel.profile = std::string(config::name_of(profile.mode));
    novel.profile_source = profile.source.string();
    novel.profile_token_begin = profile.token_begin;
    novel.profile_token_end = profile.token_end;
    novel.scored_from_token = profile.scored_from;
    novel.windows = stats.windows;
    novel.tokens = stats.tokens();
    for (const analysis::LayerStatistics& layer : stats.layers) novel.significance.push_back(layer.expert_significance);
    allocate::Reallocation re =
        allocate::reallocate_for_distribution(input, options, context.allocation->bits, novel.significance);
    novel.bits = std::move(re.allocation.bits);
    novel.changes = std::move(re.changes);
    novel.expert_mean_bits = re.allocation.report.expert_mean_bits;
    novel.all_linear_mean_bits = re.allocation.report.all_linear_mean_bits;
    const allocate::BitsReport stored = stored_report(&novel);
    novel.stored_expert_mean_bits = stored.expert_mean_bits;
    novel.stored_all_linear_mean_bits = stored.all_linear_mean_bits;
    context.log << "allocate: novel distribution \"" << set.name << "\" (" << novel.windows << " windows of "
                << novel.profile << " profile text, tokens [" << novel.profile_token_begin << ", "
                << novel.profile_token_end << ") of " << novel.profile_source << "; scored from token "
                << novel.scored_from_token << "): " << novel.changes.size() << " experts change width, experts "
                << fixed(novel.expert_mean_bits) << " bits; the adjusted model stores "
                << fixed(novel.stored_expert_mean_bits) << " bits per expert weight\n";
    plan.novel.push_back(std::move(novel));
  }
  if (root) {
    const allocate::BitsReport stored = stored_report(nullptr);
    plan.stored_expert_mean_bits = stored.expert_mean_bits;
    plan.stored_all_linear_mean_bits = stored.all_linear_mean_bits;
    context.log << "allocate: with its cached channels in full precision the quantized model stores "
                << fixed(plan.stored_expert_mean_bits) << " bits per expert weight, "
                << fixed(plan.stored_all_linear_mean_bits) << " over all linear weights\n";
  }
  return channel_plan_from_json(dist::broadcast_string(session.world(), root ? channel_plan_to_json(plan) : ""));
}

}  // namespace

void run_allocate_stage(RunContext& context) {
  const config::Experiment& e = context.experiment;
  const dist::MpiSession& session = context.session;
  const bool root = session.is_root();
  const bool uniform = e.allocation.method == config::AllocationMethod::uniform;
  const bool needs_statistics = !uniform || e.quantization.caches_channels();
  // Without a calibrate stage in this run, runtime.resume may supply the statistics of an earlier one.
  if (needs_statistics && !context.calibration && e.runtime.resume) reuse_calibration(context);
  MOQA_CHECK(uniform || context.calibration, "stage allocate: allocation.method = \"",
             config::name_of(e.allocation.method),
             "\" needs calibration statistics: add \"calibrate\" to experiment.stages",
             e.runtime.resume
                 ? " (runtime.resume found none to reuse in " + statistics_folder(e).string() + ", see the line above)"
                 : std::string(", or set runtime.resume = true to reuse those of an earlier run"));
  const ModelConfig config = load_hf_config(e.model.path / "config.json");
  const allocate::AllocationOptions options = allocation_options(e);
  Workspace work{.experiment = e, .session = session, .ranked = std::nullopt, .tokenizer = std::nullopt};

  allocate::AllocationInput input;
  if (root) {
    input =
        context.calibration ? analysis::make_allocation_input(*context.calibration, config) : shape_only_input(config);
    input.other_weights = other_weight_groups(config, e);
    const ExpertStorage storage = expert_storage(config, e);
    for (allocate::MoeLayerStats& layer : input.layers)
      for (allocate::ExpertStats& expert : layer.experts) {
        expert.overhead_bits = storage.overhead_bits;
        expert.cache_bits = storage.cache_bits;
      }
  }

  std::optional<ErrorProfile> errors;
  if (e.allocation.method == config::AllocationMethod::budgeted) {
    RankModel& m = work.model();
    context.log << "allocate: measuring the quantization error of every expert at "
                << e.allocation.candidate_bits.size() << " widths (" << config::name_of(e.quantization.method) << ")\n";
    const auto samples = load_calibration_samples(e, work.tokens(), session.world());
    CalibrationBatches batches =
        embed_calibration_batches(*m.model, samples, e.runtime.batch_windows, session.rank(), session.size());
    LayerPassWorld world{.model = *m.model,
                         .experts = *m.experts,
                         .comm = session.world(),
                         .plan = m.plan,
                         .progress = root ? &context.log : nullptr,
                         .progress_interval_s = progress_interval_s(e.runtime)};
    errors = profile_expert_errors(world, batches, e.allocation.candidate_bits, quantizer_settings(e.quantization));
    if (root) {
      input.error_bits = errors->bits;
      for (size_t l = 0; l < input.layers.size(); ++l)
        for (size_t x = 0; x < input.layers[l].experts.size(); ++x)
          input.layers[l].experts[x].quant_error = errors->error.at(l).at(x);
    }
  }

  allocate::Allocation allocation;
  if (root) allocation = allocate::allocate(input, options);
  context.allocation = broadcast_allocation(allocation, session.world());
  const allocate::Allocation& a = *context.allocation;
  context.log << "allocate: " << allocate::to_string(a.method) << ", " << width_histogram(a.bits) << "; experts "
              << fixed(a.report.expert_mean_bits) << " bits (" << fixed(a.report.expert_stored_mean_bits)
              << " stored with scales/zeros), all linear weights " << fixed(a.report.all_linear_mean_bits) << " ("
              << fixed(a.report.all_linear_stored_mean_bits) << " stored); target " << fixed(a.target_bits, 4)
              << (e.allocation.budget_counts_overhead ? " stored bits" : " bits without overhead") << "\n";

  std::optional<ChannelAdjustmentPlan> channels;
  if (e.quantization.caches_channels()) {
    channels = plan_channels(context, work, config, input, options);
    context.channel_adjustment = channels;
  }
  if (context.results) {
    const std::vector<int64_t> moe_layers = analysis::moe_layers(config);
    write_allocation(*context.results, {.allocation = a,
                                        .input = input,
                                        .moe_layers = moe_layers,
                                        .candidate_bits = e.allocation.candidate_bits,
                                        .non_expert_bits = non_expert_bits(e.allocation),
                                        .errors = errors ? &*errors : nullptr,
                                        .channels = channels ? &*channels : nullptr});
  }
}

}  // namespace moqa::pipeline
