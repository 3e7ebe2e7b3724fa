#pragma once
// The one place that binds TOML keys to Experiment members. The same visit functions drive reading
// (config/read.cpp), printing (config/to_toml.cpp) and the key list used for unknown-key detection,
// "did you mean" hints and --set validation, so a key added here exists everywhere at once.
// A visitor V provides:
//   v(key, member, rule)             for every key of a section
//   v.table(name, section, required) and v.array(name, sections) for the top-level sections.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/experiment.h"

namespace moqa::config {

enum class PathKind {
  none,       // not checked
  file,       // must be an existing regular file
  directory,  // must be an existing directory
  output,     // may not exist yet; must not be an existing non-directory
};

// Constraints of one key beyond its C++ type.
struct Rule {
  bool required = false;
  std::optional<double> min;  // numbers: inclusive lower bound (exclusive with min_exclusive)
  std::optional<double> max;  // numbers: inclusive upper bound
  bool min_exclusive = false;
  bool identifier = false;               // strings: [A-Za-z0-9_.-]+
  PathKind path = PathKind::none;        // paths
  std::string_view empty_path_literal;   // paths: this word stands for "no path" (model.tokenizer = "bytes")
  std::vector<std::string_view> allowed; // enums and enum lists: allowed names (empty = every enumerator)
  std::vector<int64_t> allowed_ints;     // integers and integer lists: allowed values (empty = any)
  bool non_empty = false;                // lists
};

inline const std::vector<int64_t>& supported_bits_rule() {
  static const std::vector<int64_t> bits(kSupportedBits.begin(), kSupportedBits.end());
  return bits;
}

template <class V>
void visit(V& v, ExperimentSection& s) {
  v("name", s.name, Rule{.required = true, .identifier = true});
  v("seed", s.seed, Rule{.min = 0});
  v("output_dir", s.output_dir, Rule{.path = PathKind::output});
  v("stages", s.stages, Rule{.non_empty = true});
  v("description", s.description, Rule{});
}

template <class V>
void visit(V& v, ModelSection& s) {
  v("path", s.path, Rule{.required = true, .path = PathKind::directory});
  v("tokenizer", s.tokenizer, Rule{.path = PathKind::file, .empty_path_literal = "bytes"});
  v("compute_dtype", s.compute_dtype, Rule{});
}

template <class V>
void visit(V& v, CalibrationSet& s) {
  v("name", s.name, Rule{.required = true, .identifier = true});
  v("path", s.path, Rule{.required = true, .path = PathKind::file});
  v("format", s.format, Rule{});
  v("field", s.field, Rule{.identifier = true});
  v("samples", s.samples, Rule{.min = 1});
  v("sampling", s.sampling, Rule{});
  v("seq_len", s.seq_len, Rule{.min = 1});
  v("max_tokens", s.max_tokens, Rule{.min = 0});
}

template <class V>
void visit(V& v, AnalysisSection& s) {
  v("activation", s.activation, Rule{});
  v("significance", s.significance, Rule{});
  v("correlation", s.correlation, Rule{});
  v("channel_significance", s.channel_significance, Rule{});
  v("router_weighted", s.router_weighted, Rule{});
  v("token_reweighting", s.token_reweighting, Rule{.min = 0.0});
  v("sensitivity_bits", s.sensitivity_bits, Rule{.allowed_ints = supported_bits_rule()});
  v("fit", s.fit, Rule{});
  v("fit_std_weight", s.fit_std_weight, Rule{.min = 0.0});
  v("channel_fraction", s.channel_fraction, Rule{.min = 0.0, .max = 1.0, .min_exclusive = true});
  v("channel_measure", s.channel_measure, Rule{});
}

template <class V>
void visit(V& v, AllocationSection& s) {
  v("method", s.method, Rule{});
  v("target_bits", s.target_bits, Rule{.min = 1.0, .max = 16.0});
  v("candidate_bits", s.candidate_bits, Rule{.allowed_ints = supported_bits_rule(), .non_empty = true});
  v("scope", s.scope, Rule{});
  v("enforce_budget", s.enforce_budget, Rule{});
  v("budget_counts_all_linear", s.budget_counts_all_linear, Rule{});
  v("budget_counts_overhead", s.budget_counts_overhead, Rule{});
  v("match_uniform_bits", s.match_uniform_bits, Rule{.allowed_ints = {0, 2, 3, 4, 6, 8}});
  v("fill_budget", s.fill_budget, Rule{});
  v("moeptq_high_bits", s.moeptq_high_bits, Rule{.allowed_ints = {0, 2, 3, 4, 6, 8}});
  v("moeptq_low_bits", s.moeptq_low_bits, Rule{.allowed_ints = {0, 2, 3, 4, 6, 8}});
  v("attention_bits", s.attention_bits, Rule{.allowed_ints = {0, 2, 3, 4, 6, 8}});
  v("shared_expert_bits", s.shared_expert_bits, Rule{.allowed_ints = {0, 2, 3, 4, 6, 8}});
  v("correlation_weight", s.correlation_weight, Rule{.min = 0.0, .max = 1.0});
  v("fcm_clusters", s.fcm_clusters, Rule{.min = 1, .max = 64});
  v("fcm_m", s.fcm_m, Rule{.min = 1.0, .min_exclusive = true});
  v("fcm_tolerance", s.fcm_tolerance, Rule{.min = 0.0, .min_exclusive = true});
  v("fcm_max_iterations", s.fcm_max_iterations, Rule{.min = 1, .max = 1e9});
  v("fcm_restarts", s.fcm_restarts, Rule{.min = 1, .max = 1e6});
  v("overlap_margin", s.overlap_margin, Rule{.min = 0.0, .max = 1.0});
  v("v1_threshold_mode", s.v1_threshold_mode, Rule{});
  v("v1_threshold", s.v1_threshold, Rule{.min = 0.0});
  v("v1_high_bits", s.v1_high_bits, Rule{.allowed_ints = {0, 2, 3, 4, 6, 8}});
  v("v1_low_bits", s.v1_low_bits, Rule{.allowed_ints = {0, 2, 3, 4, 6, 8}});
  v("v1_coactivation", s.v1_coactivation, Rule{});
  v("v1_coactivation_threshold", s.v1_coactivation_threshold, Rule{});
  v("frequency_fill", s.frequency_fill, Rule{});
  v("max_dp_cells", s.max_dp_cells, Rule{.min = 1});
  v("count_in_average", s.count_in_average,
    Rule{.allowed = {"experts", "shared_experts", "attention", "router", "dense_layers", "lm_head"},
         .non_empty = true});
}

template <class V>
void visit(V& v, QuantizationSection& s) {
  v("method", s.method, Rule{});
  v("group_size", s.group_size, Rule{.min = -1});
  v("symmetric", s.symmetric, Rule{});
  v("act_order", s.act_order, Rule{});
  v("damp_percent", s.damp_percent, Rule{.min = 0.0, .max = 1.0, .min_exclusive = true});
  v("block_size", s.block_size, Rule{.min = 1});
  v("static_groups", s.static_groups, Rule{});
  v("gptq_variant", s.gptq_variant, Rule{});
  v("true_sequential", s.true_sequential, Rule{});
  v("scale_dtype", s.scale_dtype, Rule{});
  v("keep_full_precision", s.keep_full_precision,
    Rule{.allowed = {"attention", "router", "shared_experts", "dense_layers", "embeddings", "lm_head"}});
  v("channel_adjustment", s.channel_adjustment, Rule{});
  v("save_checkpoint", s.save_checkpoint, Rule{});
  v("export_dequantized", s.export_dequantized, Rule{});
}

template <class V>
void visit(V& v, EvaluationSet& s) {
  v("name", s.name, Rule{.required = true, .identifier = true});
  v("kind", s.kind, Rule{});
  v("path", s.path, Rule{.required = true, .path = PathKind::file});
  v("format", s.format, Rule{});
  v("field", s.field, Rule{.identifier = true});
  v("task", s.task, Rule{});
  v("labels", s.labels, Rule{.path = PathKind::file, .empty_path_literal = "none"});
  v("distribution", s.distribution, Rule{});
  v("protocol", s.protocol, Rule{});
  v("seq_len", s.seq_len, Rule{.min = 2});
  v("stride", s.stride, Rule{.min = 1});
  v("max_tokens", s.max_tokens, Rule{.min = 0});
  v("keep_partial_last", s.keep_partial_last, Rule{});
  v("limit", s.limit, Rule{.min = 0});
  v("add_bos", s.add_bos, Rule{});
  v("baseline", s.baseline, Rule{});
  v("profile", s.profile, Rule{});
  v("profile_path", s.profile_path, Rule{.path = PathKind::file, .empty_path_literal = "none"});
  v("profile_tokens", s.profile_tokens, Rule{.min = 0});
}

template <class V>
void visit(V& v, RuntimeSection& s) {
  v("device", s.device, Rule{});
  v("threads", s.threads, Rule{.min = 0});
  v("batch_windows", s.batch_windows, Rule{.min = 1});
  v("stream_weights", s.stream_weights, Rule{});
  v("hidden_state_memory_mib", s.hidden_state_memory_mib, Rule{.min = 0});
  v("progress_interval_s", s.progress_interval_s, Rule{.min = 0.0});
  v("memory_limit", s.memory_limit, Rule{});
  v("resume", s.resume, Rule{});
  v("statistics_from", s.statistics_from, Rule{.path = PathKind::output, .empty_path_literal = "output_dir"});
}

// Top-level sections in the order they are printed. [sweep] has free-form keys and is handled apart.
template <class V>
void visit(V& v, Experiment& e) {
  v.table("experiment", e.experiment, true);
  v.table("model", e.model, true);
  v.array("calibration", e.calibration);
  v.table("analysis", e.analysis, false);
  v.table("allocation", e.allocation, false);
  v.table("quantization", e.quantization, false);
  v.array("evaluation", e.evaluation);
  v.table("runtime", e.runtime, false);
}

inline constexpr std::string_view kSweepSection = "sweep";

// What the schema knows about one key.
struct KeyInfo {
  std::string section;      // "allocation"
  std::string key;          // "target_bits"
  bool array_section;       // the section is an array of tables ([[calibration]])
  bool string_valued;       // strings, paths and enum names: a bare --set word is taken as a string
};

// Every key of every section, in schema order.
const std::vector<KeyInfo>& schema_keys();
std::vector<std::string> section_names();  // including "sweep"
bool is_array_section(std::string_view section);
std::vector<std::string> keys_of(std::string_view section);

// "found unknown key "pth", expected one of "path", ... (did you mean "path"?)" for a key of `section`
// ("" = the top level, whose keys are section names).
std::string unknown_key_message(std::string_view section, std::string_view key);

}  // namespace moqa::config
