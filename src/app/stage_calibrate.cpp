#include "app/stage_calibrate.h"

#include <algorithm>
#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include "analysis/calibrate.h"
#include "analysis/results_writer.h"
#include "app/driver.h"
#include "app/rank_model.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace moqa::app {
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

}  // namespace

void run_calibrate_stage(RunContext& context) {
  const config::Experiment& e = context.experiment;
  const dist::MpiSession& session = context.session;
  MOQA_CHECK(!e.calibration.empty(), "stage calibrate: the experiment has no [[calibration]] table");
  for (const config::CalibrationSet& set : e.calibration)
    MOQA_CHECK(set.name != analysis::kSynthesizedGroup, "calibration name \"", set.name,
               "\" is reserved for the cross-distribution statistics in results.h5; rename the [[calibration]] table");

  RankModel ranked = open_rank_model(e, session);
  const std::vector<int64_t> moe_layers = analysis::moe_layers(ranked.model->config());
  const Tokenizer tokenizer = open_tokenizer(e);
  context.log << "calibrate: " << session.size() << (session.size() == 1 ? " rank, " : " ranks, ")
              << ranked.backend->describe() << "; rank 0 holds " << ranked.plan.expert_count_of(0) << " of "
              << ranked.plan.num_experts * static_cast<int64_t>(moe_layers.size()) << " routed experts\n";

  analysis::CalibrationWorld world{.model = *ranked.model,
                                   .experts = *ranked.experts,
                                   .comm = session.world(),
                                   .plan = ranked.plan,
                                   .batch_windows = e.runtime.batch_windows,
                                   .progress = session.is_root() ? &context.log : nullptr,
                                   .progress_interval_s = progress_interval_s(e.runtime)};
  analysis::CalibrationResult result;
  result.options = e.analysis;
  result.moe_layers = moe_layers;
  for (const config::CalibrationSet& set : e.calibration) {
    const analysis::DistributionSample sample =
        analysis::prepare_distribution(set, tokenizer, e.experiment.seed, session.world());
    result.distributions.push_back(analysis::measure_distribution(world, sample, e.analysis));
    const analysis::DistributionStatistics& d = result.distributions.back();
    if (!context.results) continue;
    analysis::write_distribution(*context.results, d, e.analysis);
    const analysis::LayerStatistics& first = d.layers.front();
    context.log << "calibrate " << d.name << ": " << d.windows << " windows x " << d.seq_len << " tokens; layer "
                << first.sums.layer << " S_exp top: " << top_experts(first.expert_significance, 3) << "\n";
  }
  if (session.is_root()) {
    result.synthesized = analysis::synthesize(result.distributions);
    if (context.results) {
      analysis::write_analysis_header(*context.results, result);
      context.results->set_attribute("/analysis", "backend", ranked.backend->describe());
      analysis::write_synthesized(*context.results, result);
    }
  }
  context.calibration = std::move(result);
}

}  // namespace moqa::app
