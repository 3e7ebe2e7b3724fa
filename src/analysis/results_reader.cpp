#include "analysis/results_reader.h"

#include <charconv>

#include "analysis/results_writer.h"
#include "core/error.h"

namespace moqa::analysis {
namespace {

struct Group {
  const io::H5Reader& file;
  std::string path;

  std::string where(const std::string& name) const { return cat(file.path().string(), ": ", path, "/", name); }
  bool has(const std::string& name) const { return file.exists(path + "/" + name); }

  int64_t integer(const std::string& name) const {
    MOQA_CHECK(file.has_attribute(path, name), file.path().string(), ": ", path, ": attribute \"", name,
               "\" is missing");
    return file.attribute_int64(path, name);
  }
  template <io::H5Number T>
  std::vector<T> values(const std::string& name, const Shape& shape) const {
    MOQA_CHECK(has(name), where(name), ": dataset is missing");
    const Shape found = file.shape(path + "/" + name);
    MOQA_CHECK(found == shape, where(name), ": shape ", to_string(found), ", expected ", to_string(shape));
    return file.read<T>(path + "/" + name).values;
  }
};

void expect_equal(int64_t found, int64_t expected, const Group& g, const std::string& name, const char* what) {
  MOQA_CHECK(found == expected, g.file.path().string(), ": ", g.path, ": ", name, " = ", found, ", expected ", expected,
             " (", what, ")");
}

LayerStatistics read_layer(const Group& g, int64_t layer, const config::AnalysisSection& options,
                           const ModelConfig& config) {
  LayerAccumulator a;
  a.layer = g.integer("layer");
  expect_equal(a.layer, layer, g, "layer", "the group's model layer");
  a.experts = g.integer("experts");
  expect_equal(a.experts, config.num_experts, g, "experts", "the model's routed experts");
  a.channels = g.integer("channels");
  expect_equal(a.channels, config.hidden_size, g, "channels", "the model's hidden size");
  a.top_k = g.integer("top_k");
  expect_equal(a.top_k, config.top_k, g, "top_k", "the model's experts per token");
  a.tokens = g.integer("tokens");
  MOQA_CHECK(a.tokens >= 0, g.file.path().string(), ": ", g.path, ": tokens = ", a.tokens, ", expected >= 0");
  MOQA_CHECK(g.file.has_attribute(g.path, "token_weight_sum"), g.file.path().string(), ": ", g.path,
             ": attribute \"token_weight_sum\" is missing");
  a.token_weight_sum = g.file.attribute_double(g.path, "token_weight_sum");
  a.coactivation_enabled = options.correlation;

  const Shape experts{a.experts}, channels{a.experts, a.channels}, pairs{a.experts, a.experts};
  a.routed_count = g.values<int64_t>("routed_count", experts);
  a.gate_mass = g.values<double>("gate_mass", experts);
  a.router_prob_mass = g.values<double>("router_prob_mass", experts);
  a.weight_mass = g.values<double>("weight_mass", experts);
  a.abs_sum = g.values<double>("abs_sum", channels);
  a.sq_sum = g.values<double>("sq_sum", channels);
  a.abs_max = g.values<double>("abs_max", channels);
  a.weighted_abs_sum = g.values<double>("weighted_abs_sum", channels);
  a.weighted_sq_sum = g.values<double>("weighted_sq_sum", channels);
  MOQA_CHECK(g.has("coactivation") == options.correlation, g.where("coactivation"),
             options.correlation ? ": dataset is missing (analysis.correlation = true)"
                                 : ": present, but analysis.correlation = false");
  if (options.correlation) a.coactivation = g.values<int64_t>("coactivation", pairs);
  std::vector<double> norms;
  const bool saliency = options.channel_significance == config::ChannelSignificance::saliency;
  MOQA_CHECK(g.has("weight_column_norm") == saliency, g.where("weight_column_norm"),
             saliency ? ": dataset is missing (channel_significance = \"saliency\")"
                      : ": present, but channel_significance is not \"saliency\"");
  if (saliency) norms = g.values<double>("weight_column_norm", channels);

  const config::ChannelSignificance kind = options.channel_significance;
  const bool output_side = is_output_side(kind);
  MOQA_CHECK(g.has("out_weight_mass") == output_side, g.where("out_weight_mass"),
             output_side ? cat(": dataset is missing (channel_significance = \"", config::name_of(kind), "\")")
                         : std::string(": present, but channel_significance is an input-side measure"));
  std::vector<double> down_norms;
  if (output_side) {
    a.intermediate = g.integer("intermediate");
    expect_equal(a.intermediate, config.expert_intermediate_size, g, "intermediate",
                 "the model's expert intermediate size");
    const Shape activations{a.experts, a.intermediate};
    a.out_weight_mass = g.values<double>("out_weight_mass", experts);
    a.act_weighted_abs_sum = g.values<double>("act_weighted_abs_sum", activations);
    a.act_weighted_sq_sum = g.values<double>("act_weighted_sq_sum", activations);
    a.out_weighted_abs_sum = g.values<double>("out_weighted_abs_sum", channels);
    a.out_weighted_sq_sum = g.values<double>("out_weighted_sq_sum", channels);
    a.sensitivity_enabled = kind == config::ChannelSignificance::sensitivity;
    if (a.sensitivity_enabled) {
      a.sensitivity_act = g.values<double>("sensitivity_act", activations);
      a.sensitivity_out = g.values<double>("sensitivity_out", channels);
    }
    if (kind == config::ChannelSignificance::output_saliency)
      down_norms = g.values<double>("down_column_norm", activations);
  }
  return derive_layer_statistics(std::move(a), std::move(norms), std::move(down_norms), options);
}

DistributionStatistics read_distribution(const io::H5Reader& file, const std::string& name,
                                         const std::vector<int64_t>& layers, const config::AnalysisSection& options,
                                         const ModelConfig& config) {
  const Group g{file, "/analysis/" + name};
  MOQA_CHECK(file.is_group(g.path), file.path().string(), ": ", g.path, ": group is missing");
  DistributionStatistics d;
  d.name = name;
  d.source = file.attribute_string(g.path, "source");
  const std::string seed = file.attribute_string(g.path, "sample_seed");
  const auto parsed = std::from_chars(seed.data(), seed.data() + seed.size(), d.seed);
  MOQA_CHECK(parsed.ec == std::errc() && parsed.ptr == seed.data() + seed.size() && !seed.empty(), file.path().string(),
             ": ", g.path, ": sample_seed \"", seed, "\" is not a 64-bit decimal number");
  d.windows = g.integer("windows");
  d.seq_len = g.integer("seq_len");
  d.stream_tokens = g.integer("stream_tokens");
  MOQA_CHECK(d.windows >= 0 && d.seq_len > 0 && d.stream_tokens >= 0, file.path().string(), ": ", g.path,
             ": windows = ", d.windows, ", seq_len = ", d.seq_len, ", stream_tokens = ", d.stream_tokens,
             ", expected windows >= 0, seq_len > 0, stream_tokens >= 0");
  d.window_starts = g.values<int64_t>("window_starts", Shape{d.windows});
  for (const int64_t layer : layers)
    d.layers.push_back(read_layer(Group{file, cat(g.path, "/layer_", layer)}, layer, options, config));
  return d;
}

}  // namespace

CalibrationResult read_calibration(const io::H5Reader& file, const std::vector<std::string>& names,
                                   const config::AnalysisSection& options, const ModelConfig& config) {
  MOQA_CHECK(file.is_group("/analysis"), file.path().string(),
             ": /analysis: group is missing (the run that wrote "
             "it had no calibrate stage)");
  CalibrationResult result;
  result.options = options;
  result.moe_layers = moe_layers(config);
  MOQA_CHECK(file.has_attribute("/analysis", "moe_layers"), file.path().string(),
             ": /analysis: attribute \"moe_layers\" is missing");
  const std::vector<int64_t> stored_layers = file.attribute<int64_t>("/analysis", "moe_layers");
  MOQA_CHECK(stored_layers == result.moe_layers, file.path().string(), ": /analysis: moe_layers has ",
             stored_layers.size(), " layers, not the ", result.moe_layers.size(), " MoE layers of ",
             config.source.string());
  const std::vector<std::string> stored_names = file.read_strings("/analysis/distributions");
  MOQA_CHECK(stored_names == names, file.path().string(), ": /analysis/distributions lists ", stored_names.size(),
             " distribution(s), not the ", names.size(), " [[calibration]] name(s) of the experiment in order");
  MOQA_CHECK(!names.empty(), file.path().string(), ": /analysis lists no distribution");
  for (const std::string& name : names) {
    MOQA_CHECK(name != kSynthesizedGroup, "calibration name \"", name, "\" is reserved");
    result.distributions.push_back(read_distribution(file, name, result.moe_layers, options, config));
  }
  result.synthesized = synthesize(result.distributions);
  return result;
}

}  // namespace moqa::analysis
