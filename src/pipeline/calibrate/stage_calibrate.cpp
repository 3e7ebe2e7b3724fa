#include "pipeline/calibrate/stage_calibrate.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "analysis/calibrate.h"
#include "analysis/results_writer.h"
#include "core/build_info.h"
#include "core/error.h"
#include "io/hf_config.h"
#include "pipeline/driver.h"
#include "pipeline/rank_model.h"
#include "pipeline/resume/calibration_reuse.h"
#include "tokenizer/tokenizer.h"

namespace moqa::pipeline {
namespace {

// The experts with the largest S_exp of a layer, "e3 0.31, e0 0.22, ...", for the log.
std::string top_experts(const std::vector<double>& significance, size_t count) {
  std::vector<size_t> order(significance.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return significance[a] > significance[b]; });
  std::string out;
  char value[32];
  for (size_t i = 0; i < std::min(count, order.size()); ++i) {
    std::snprintf(value, sizeof value, "%.3f", significance[order[i]]);
    out += cat(i ? ", " : "", "e", order[i], " ", value);
  }
  return out;
}

std::string fixed3(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", value);
  return text;
}

// Rank 0 (which holds the statistics). The Spearman correlation of S_exp with the routed gate mass per
// layer says whether significance is more than routing frequency (1: the same ranking).
void log_distribution(std::ostream& log, const analysis::DistributionStatistics& d) {
  if (d.layers.empty()) return;
  const analysis::LayerStatistics& first = d.layers.front();
  log << "calibrate " << d.name << ": " << d.windows << " windows x " << d.seq_len << " tokens; layer "
      << first.sums.layer << " S_exp top: " << top_experts(first.expert_significance, 3) << "\n";
  log << "calibrate " << d.name << ": Spearman(S_exp, gate mass) per layer:";
  for (const analysis::LayerStatistics& s : d.layers) log << " " << s.sums.layer << ":" << fixed3(s.spearman_gate_mass);
  log << "\n";
}

// Writes /analysis (rank 0) and hands the statistics to the later stages.
void publish(RunContext& context, analysis::CalibrationResult result, const std::string& backend,
             const StatisticsOrigin* reused) {
  if (io::H5Writer* w = context.results) {
    for (const analysis::DistributionStatistics& d : result.distributions)
      analysis::write_distribution(*w, d, result.options);
    analysis::write_analysis_header(*w, result);
    analysis::write_synthesized(*w, result);
    w->set_attribute("/analysis", "backend", backend);
    w->set_attribute("/analysis", "reused", static_cast<int64_t>(reused ? 1 : 0));
    w->set_attribute("/analysis", "computed_git_commit",
                     reused ? reused->computed_git_commit : std::string(build_info::git_commit));
    if (reused) {
      w->set_attribute("/analysis", "reused_from", reused->file);
      w->set_attribute("/analysis", "reused_from_utc_finish", reused->utc_finish);
    }
  }
  context.calibration = std::move(result);
}

void check_calibration_names(const config::Experiment& e) {
  MOQA_CHECK(!e.calibration.empty(), "stage calibrate: the experiment has no [[calibration]] table");
  for (const config::CalibrationSet& set : e.calibration)
    MOQA_CHECK(set.name != analysis::kSynthesizedGroup, "calibration name \"", set.name,
               "\" is reserved for the cross-distribution statistics in results.h5; rename the [[calibration]] table");
}

}  // namespace

bool reuse_calibration(RunContext& context) {
  const config::Experiment& e = context.experiment;
  const dist::MpiSession& session = context.session;
  std::optional<ReusableCalibration> found;
  std::string metadata;
  if (session.is_root()) {
    const std::filesystem::path file = statistics_folder(e) / "results.h5";
    std::string why_not;
    found = find_reusable_calibration(e, session, why_not);
    if (found) {
      context.log << "calibrate: reusing the statistics of " << file.string() << " (committed "
                  << found->origin.utc_finish << ", computed by moqa " << found->origin.computed_git_commit
                  << "): every input they depend on is unchanged\n";
      metadata = distribution_metadata_to_json(found->result.distributions);
    } else {
      context.log << "calibrate: not reusing earlier statistics (runtime.resume): " << why_not << "\n";
    }
  }
  metadata = dist::broadcast_string(session.world(), metadata);
  if (metadata.empty()) return false;
  if (session.is_root()) {
    for (const analysis::DistributionStatistics& d : found->result.distributions) log_distribution(context.log, d);
    publish(context, std::move(found->result), found->origin.backend, &found->origin);
    return true;
  }
  analysis::CalibrationResult result;
  result.options = e.analysis;
  result.moe_layers = analysis::moe_layers(load_hf_config(e.model.path / "config.json"));
  result.distributions = distribution_metadata_from_json(metadata);
  publish(context, std::move(result), "", nullptr);
  return true;
}

analysis::CalibrationWorld calibration_world(RunContext& context, RankModel& model) {
  const config::Experiment& e = context.experiment;
  return analysis::CalibrationWorld{.model = *model.model,
                                    .experts = *model.experts,
                                    .comm = context.session.world(),
                                    .plan = model.plan,
                                    .batch_windows = e.runtime.batch_windows,
                                    .sensitivity_group_size = e.quantization.group_size,
                                    .sensitivity_symmetric = e.quantization.symmetric,
                                    .progress = context.session.is_root() ? &context.log : nullptr,
                                    .progress_interval_s = progress_interval_s(e.runtime),
                                    .hidden_state_budget_bytes = e.runtime.hidden_state_memory_mib << 20,
                                    .scratch_dir = e.experiment.output_dir};
}

void run_calibrate_stage(RunContext& context) {
  const config::Experiment& e = context.experiment;
  const dist::MpiSession& session = context.session;
  check_calibration_names(e);
  if (e.runtime.resume && reuse_calibration(context)) return;

  RankModel ranked = open_rank_model(e, session);
  const std::vector<int64_t> moe_layers = analysis::moe_layers(ranked.model->config());
  const Tokenizer tokenizer = open_tokenizer(e);
  context.log << "calibrate: " << session.size() << (session.size() == 1 ? " rank, " : " ranks, ")
              << ranked.backend->describe() << "; rank 0 holds " << ranked.plan.expert_count_of(0) << " of "
              << ranked.plan.num_experts * static_cast<int64_t>(moe_layers.size()) << " routed experts\n";

  analysis::CalibrationWorld world = calibration_world(context, ranked);
  std::error_code exists_or_not;  // rank 0 creates it for results.h5; a failure here shows in the scratch file's error
  std::filesystem::create_directories(e.experiment.output_dir, exists_or_not);
  std::vector<analysis::DistributionSample> samples;
  for (const config::CalibrationSet& set : e.calibration)
    samples.push_back(analysis::prepare_distribution(set, tokenizer, e.experiment.seed, session.world()));
  analysis::CalibrationResult result;
  result.options = e.analysis;
  result.moe_layers = moe_layers;
  result.distributions = analysis::measure_distributions(world, samples, e.analysis);
  for (const analysis::DistributionStatistics& d : result.distributions) log_distribution(context.log, d);
  if (session.is_root()) result.synthesized = analysis::synthesize(result.distributions);
  publish(context, std::move(result), ranked.backend->describe(), nullptr);
}

}  // namespace moqa::pipeline
