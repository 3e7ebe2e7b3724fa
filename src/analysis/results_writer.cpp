#include "analysis/results_writer.h"

#include <string>

#include "core/error.h"

namespace moqa::analysis {
namespace {

std::string layer_group(const std::string& parent, int64_t layer) { return cat(parent, "/layer_", layer); }

int64_t flag(bool value) { return value ? 1 : 0; }

}  // namespace

void write_analysis_header(io::H5Writer& file, const CalibrationResult& result) {
  const config::AnalysisSection& o = result.options;
  const std::string g = "/analysis";
  file.create_group(g);
  std::vector<std::string> names;
  for (const DistributionStatistics& d : result.distributions) names.push_back(d.name);
  file.write_strings(g + "/distributions", names);
  file.set_attribute(g, "moe_layers", result.moe_layers);
  file.set_attribute(g, "activation", flag(o.activation));
  file.set_attribute(g, "significance", flag(o.significance));
  file.set_attribute(g, "correlation", flag(o.correlation));
  file.set_attribute(g, "channel_significance", std::string(config::name_of(o.channel_significance)));
  file.set_attribute(g, "router_weighted", flag(o.router_weighted));
  file.set_attribute(g, "token_reweighting", o.token_reweighting);
  file.set_attribute(g, "fit", std::string(config::name_of(o.fit)));
  file.set_attribute(g, "fit_std_weight", o.fit_std_weight);
  if (o.channel_significance == config::ChannelSignificance::sensitivity)
    file.set_attribute(g, "sensitivity_bits", static_cast<int64_t>(o.sensitivity_bits));
  // What was in effect after the stage switches (accumulators.h: ω = r · g).
  file.set_attribute(g, "gate_weighted", flag(o.activation && o.router_weighted));
  file.set_attribute(g, "token_reweighted", flag(o.activation && o.token_reweighting > 0.0));
}

void write_distribution(io::H5Writer& file, const DistributionStatistics& d, const config::AnalysisSection& options) {
  MOQA_CHECK(d.name != kSynthesizedGroup, "calibration name \"", d.name,
             "\" is reserved for the cross-distribution statistics in results.h5; rename the [[calibration]] table");
  const std::string g = "/analysis/" + d.name;
  file.create_group(g);
  file.set_attribute(g, "source", d.source);
  file.set_attribute(g, "sample_seed", std::to_string(d.seed));
  file.set_attribute(g, "windows", d.windows);
  file.set_attribute(g, "seq_len", d.seq_len);
  file.set_attribute(g, "tokens", d.tokens());
  file.set_attribute(g, "stream_tokens", d.stream_tokens);
  file.write(g + "/window_starts", d.window_starts, Shape{static_cast<int64_t>(d.window_starts.size())});

  for (const LayerStatistics& s : d.layers) {
    const LayerAccumulator& a = s.sums;
    const std::string l = layer_group(g, a.layer);
    const Shape experts{a.experts}, channels{a.experts, a.channels}, pairs{a.experts, a.experts};
    file.create_group(l);
    file.set_attribute(l, "layer", a.layer);
    file.set_attribute(l, "tokens", a.tokens);
    file.set_attribute(l, "top_k", a.top_k);
    file.set_attribute(l, "experts", a.experts);
    file.set_attribute(l, "channels", a.channels);
    file.set_attribute(l, "token_weight_sum", a.token_weight_sum);
    file.write(l + "/routed_count", a.routed_count, experts);
    file.write(l + "/routed_fraction", s.routed_fraction, experts);
    file.write(l + "/gate_mass", a.gate_mass, experts);
    file.write(l + "/router_prob_mass", a.router_prob_mass, experts);
    file.write(l + "/weight_mass", a.weight_mass, experts);
    file.write(l + "/abs_sum", a.abs_sum, channels);
    file.write(l + "/sq_sum", a.sq_sum, channels);
    file.write(l + "/abs_max", a.abs_max, channels);
    file.write(l + "/weighted_abs_sum", a.weighted_abs_sum, channels);
    file.write(l + "/weighted_sq_sum", a.weighted_sq_sum, channels);
    if (!s.column_norms.empty()) file.write(l + "/weight_column_norm", s.column_norms, channels);
    file.write(l + "/channel_significance", s.channel_significance, channels);
    file.set_attribute(l + "/channel_significance", "kind", std::string(config::name_of(options.channel_significance)));
    if (a.intermediate > 0) {
      const Shape activations{a.experts, a.intermediate};
      file.set_attribute(l, "intermediate", a.intermediate);
      file.write(l + "/out_weight_mass", a.out_weight_mass, experts);
      file.write(l + "/act_weighted_abs_sum", a.act_weighted_abs_sum, activations);
      file.write(l + "/act_weighted_sq_sum", a.act_weighted_sq_sum, activations);
      file.write(l + "/out_weighted_abs_sum", a.out_weighted_abs_sum, channels);
      file.write(l + "/out_weighted_sq_sum", a.out_weighted_sq_sum, channels);
      if (a.sensitivity_enabled) {
        file.write(l + "/sensitivity_act", a.sensitivity_act, activations);
        file.write(l + "/sensitivity_out", a.sensitivity_out, channels);
      }
      if (!s.down_column_norms.empty()) file.write(l + "/down_column_norm", s.down_column_norms, activations);
      file.write(l + "/activation_significance", s.activation_significance, activations);
    }
    file.write(l + "/expert_numerator", s.expert_numerator, experts);
    file.write(l + "/expert_significance", s.expert_significance, experts);
    file.set_attribute(l, "spearman_gate_mass", s.spearman_gate_mass);
    if (a.coactivation_enabled) {
      file.write(l + "/coactivation", a.coactivation, pairs);
      file.write(l + "/correlation", s.correlation, pairs);
    }
  }
}

void write_synthesized(io::H5Writer& file, const CalibrationResult& result) {
  const std::string g = std::string("/analysis/") + kSynthesizedGroup;
  file.create_group(g);
  file.set_attribute(g, "distributions", static_cast<int64_t>(result.distributions.size()));
  file.set_attribute(g, "fit", std::string(config::name_of(result.options.fit)));
  int64_t tokens = 0;
  for (const DistributionStatistics& d : result.distributions) tokens += d.tokens();
  file.set_attribute(g, "tokens", tokens);
  for (const SynthesizedLayer& s : result.synthesized) {
    const std::string l = layer_group(g, s.layer);
    const auto e = static_cast<int64_t>(s.routed_fraction.size());
    file.create_group(l);
    file.set_attribute(l, "layer", s.layer);
    file.write(l + "/significance_mean", s.significance.mean, Shape{e});
    file.write(l + "/significance_variance", s.significance.variance, Shape{e});
    file.write(l + "/routed_fraction", s.routed_fraction, Shape{e});
    file.write(l + "/gate_mass", s.gate_mass, Shape{e});
    file.set_attribute(l, "spearman_gate_mass", s.spearman_gate_mass);
    if (!s.coactivation.empty()) {
      file.write(l + "/coactivation", s.coactivation, Shape{e, e});
      file.write(l + "/correlation", s.correlation, Shape{e, e});
    }
  }
}

}  // namespace moqa::analysis
