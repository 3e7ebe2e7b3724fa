#include "config/validate.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "config/read_context.h"

namespace moqa::config {
namespace {

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

data::CorpusFormat format_from_extension(const std::filesystem::path& path) {
  const std::string name = path.filename().string();
  return ends_with(name, ".jsonl") || ends_with(name, ".jsonl.xz") ? data::CorpusFormat::jsonl : data::CorpusFormat::text;
}

std::string bits_list(const std::vector<int>& bits) {
  std::string out = "[";
  for (size_t i = 0; i < bits.size(); ++i) out += cat(i ? ", " : "", bits[i]);
  return out + "]";
}

// Names of [[calibration]] / [[evaluation]] entries must be unique: results are keyed by them.
template <class Set>
void check_unique_names(const std::vector<Set>& sets, const std::string& section, ReadContext& context) {
  std::map<std::string, size_t> first;
  for (size_t i = 0; i < sets.size(); ++i) {
    const std::string key = cat(section, ".", i, ".name");
    if (!context.valid(key) || sets[i].name.empty()) continue;
    auto [it, inserted] = first.emplace(sets[i].name, i);
    if (!inserted)
      context.error(context.where(key), key,
                    cat("found \"", sets[i].name, "\" again (first at ",
                        context.where(cat(section, ".", it->second, ".name")).str(),
                        "), expected a name unique among the [[", section, "]] tables"));
  }
}

void resolve_experiment(Experiment& e, ReadContext& context) {
  auto& stages = e.experiment.stages;
  std::sort(stages.begin(), stages.end());  // the pipeline order, whatever order the file lists
  if (!context.present("experiment.output_dir") && !e.experiment.name.empty())
    e.experiment.output_dir = (context.cwd() / "results" / e.experiment.name).lexically_normal();
}

void resolve_model(Experiment& e, ReadContext& context) {
  auto& model = e.model;
  if (!context.valid("model.path") || model.path.empty()) return;
  if (context.check_paths() && !std::filesystem::exists(model.path / "config.json"))
    context.error(context.where("model.path"), "model.path",
                  cat("found directory \"", model.path.string(),
                      "\" without config.json, expected a Hugging Face model directory"));
  if (!context.present("model.tokenizer")) {
    model.tokenizer = model.path / "tokenizer.json";
    if (context.check_paths() && std::filesystem::is_directory(model.path) &&
        !std::filesystem::is_regular_file(model.tokenizer))
      context.error(context.where("model"), "model.tokenizer",
                    cat("missing, and the default \"", model.tokenizer.string(),
                        "\" does not exist, expected the path of a tokenizer.json or \"bytes\" for byte-level ids"));
  }
}

void resolve_calibration(Experiment& e, ReadContext& context) {
  for (size_t i = 0; i < e.calibration.size(); ++i) {
    auto& set = e.calibration[i];
    if (!context.present(cat("calibration.", i, ".format"))) set.format = format_from_extension(set.path);
    const std::string name_key = cat("calibration.", i, ".name");
    if (set.name == kReservedCalibrationName && context.valid(name_key))
      context.error(context.where(name_key), name_key,
                    cat("found \"", set.name, "\", expected another name (results.h5 keeps the fit over all "
                        "distributions in /analysis/", kReservedCalibrationName, ")"));
  }
  check_unique_names(e.calibration, "calibration", context);
}

void resolve_allocation(Experiment& e, ReadContext& context) {
  auto& a = e.allocation;
  std::sort(a.candidate_bits.begin(), a.candidate_bits.end());
  const bool bits_ok = context.valid("allocation.candidate_bits") && context.valid("allocation.method");
  if (bits_ok && context.valid("allocation.target_bits")) {
    if (a.method == AllocationMethod::uniform) {
      const bool supported = std::any_of(kSupportedBits.begin(), kSupportedBits.end(),
                                         [&](int bits) { return a.target_bits == bits; });
      if (!supported)
        context.error(context.where("allocation.target_bits"), "allocation.target_bits",
                      cat("found ", toml_float_literal(a.target_bits),
                          " with method = \"uniform\", expected one of the widths 2, 3, 4, 6 or 8"));
    } else if (a.target_bits < a.candidate_bits.front() ||
               (a.target_bits > a.candidate_bits.back() && !a.budget_counts_all_linear)) {
      // (Over all linear weights, full-precision parts raise the mean: only the floor is certain here.)
      context.error(context.where("allocation.target_bits"), "allocation.target_bits",
                    cat("found ", toml_float_literal(a.target_bits), ", expected a number in [",
                        a.candidate_bits.front(), ", ", a.candidate_bits.back(), "] (the range of candidate_bits ",
                        bits_list(a.candidate_bits), ")"));
    }
  }
  const bool v1 = context.valid("allocation.method") && a.method == AllocationMethod::moqa_v1;
  if (v1 && context.valid("allocation.candidate_bits")) {
    for (const auto& [dotted, bits] : {std::pair<std::string, int>{"allocation.v1_low_bits", a.v1_low_bits},
                                       std::pair<std::string, int>{"allocation.v1_high_bits", a.v1_high_bits}}) {
      if (bits != 0 && context.valid(dotted) &&
          std::find(a.candidate_bits.begin(), a.candidate_bits.end(), bits) == a.candidate_bits.end())
        context.error(context.where(dotted), dotted,
                      cat("found ", bits, ", expected 0 (automatic) or one of candidate_bits ",
                          bits_list(a.candidate_bits)));
    }
  }
  if (v1 && a.v1_low_bits != 0 && a.v1_high_bits != 0 && context.valid("allocation.v1_low_bits") &&
      context.valid("allocation.v1_high_bits") && a.v1_low_bits >= a.v1_high_bits)
    context.error(context.where("allocation.v1_low_bits"), "allocation.v1_low_bits",
                  cat("found ", a.v1_low_bits, " with v1_high_bits = ", a.v1_high_bits,
                      ", expected fewer bits than v1_high_bits"));
  if (context.valid("allocation.v1_threshold_mode") && a.v1_threshold_mode == ThresholdMode::quantile &&
      context.valid("allocation.v1_threshold") && a.v1_threshold > 1.0)
    context.error(context.where("allocation.v1_threshold"), "allocation.v1_threshold",
                  cat("found ", toml_float_literal(a.v1_threshold),
                      " with v1_threshold_mode = \"quantile\", expected a number in [0, 1]"));
}

void resolve_quantization(Experiment& e, ReadContext& /*context*/) {
  if (e.quantization.group_size < 0) e.quantization.group_size = 0;  // -1 and 0 both mean per-channel
}

// PIQA's release keeps its labels beside the records: dev.jsonl + dev-labels.lst, train.jsonl + train-labels.lst.
std::filesystem::path default_labels_path(const std::filesystem::path& records) {
  const std::string name = records.filename().string();
  for (const std::string_view extension : {".jsonl", ".jsonl.xz"})
    if (ends_with(name, extension))
      return records.parent_path() / cat(name.substr(0, name.size() - extension.size()), "-labels.lst");
  return {};
}

// [[evaluation]] labels: only for piqa; unset, the release's file beside the records when it exists;
// "none": the labels are in the records.
void resolve_labels(EvaluationSet& set, const std::string& prefix, ReadContext& context) {
  const bool piqa = set.kind == EvalKind::zero_shot && set.task == data::TaskFormat::piqa;
  if (context.present(prefix + "labels")) {
    // (A zero_shot set without a task has its own error.)
    if (!piqa && !set.labels.empty() && (set.task || set.kind == EvalKind::perplexity) && context.valid(prefix + "kind") &&
        context.valid(prefix + "task") && context.valid(prefix + "labels"))
      context.error(context.where(prefix + "labels"), prefix + "labels",
                    cat("found a labels file with ",
                        set.task ? cat("task = \"", name_of(*set.task), "\"") : std::string("kind = \"perplexity\""),
                        ", expected labels only with task = \"piqa\" (PIQA's release keeps its labels in a "
                        "separate file; the other tasks carry them in their records)"));
    return;
  }
  if (!piqa) return;
  const std::filesystem::path candidate = default_labels_path(set.path);
  std::error_code ec;
  if (!candidate.empty() && std::filesystem::is_regular_file(candidate, ec)) set.labels = candidate;
}

// [[evaluation]] protocol: perplexity only; the GPTQ protocols fix the windows and the tokens
// (data/perplexity_stream.h), so the keys that would change them are refused rather than ignored.
void check_protocol(const EvaluationSet& set, const std::string& prefix, ReadContext& context) {
  const std::string key = prefix + "protocol";
  if (!context.present(key) || !context.valid(key) || !context.valid(prefix + "kind")) return;
  if (set.protocol == PerplexityProtocol::windows) return;  // the default, also printed for zero_shot sets
  if (set.kind == EvalKind::zero_shot) {
    context.error(context.where(key), key,
                  cat("found \"", name_of(set.protocol),
                      "\" with kind = \"zero_shot\", expected \"windows\" or no "
                      "protocol (protocols are for kind = \"perplexity\")"));
    return;
  }
  const auto refuse = [&](const std::string& other, const std::string& found_value, const std::string& expected) {
    if (context.present(prefix + other) && context.valid(prefix + other))
      context.error(context.where(prefix + other), prefix + other,
                    cat("found ", found_value, " with protocol = \"", name_of(set.protocol), "\", expected ", expected,
                        " (the protocol fixes which tokens are scored; protocol = \"windows\" takes any)"));
  };
  if (set.stride != set.seq_len) refuse("stride", cat(set.stride), cat("seq_len = ", set.seq_len, " or no stride"));
  if (set.keep_partial_last) refuse("keep_partial_last", "true", "false");
  if (set.max_tokens != 0) refuse("max_tokens", cat(set.max_tokens), "0");
  if (set.protocol == PerplexityProtocol::gptq_c4_new && set.format != data::CorpusFormat::jsonl &&
      context.valid(prefix + "format"))
    context.error(context.where(context.present(prefix + "format") ? prefix + "format" : key), prefix + "format",
                  cat("found \"text\" (", set.path.filename().string(),
                      ") with protocol = \"gptq-c4-new\", expected "
                      "\"jsonl\": the protocol joins the first 1,100 C4 documents, one JSON record each"));
}

// [[evaluation]] profile, profile_path, profile_tokens (docs/ALLOCATION.md, "Profiling a novel distribution"):
// only novel perplexity sets are profiled (their default values, which the resolved print carries, are
// accepted on any set). Unset, profile is "file" with a profile_path; a re-allocating run without either is
// an error rather than a silent transductive profile or a silently shortened scored text.
void resolve_profile(const Experiment& e, EvaluationSet& set, const std::string& prefix, ReadContext& context) {
  const std::string profile_key = prefix + "profile", path_key = prefix + "profile_path",
                    tokens_key = prefix + "profile_tokens";
  for (const std::string& key : {profile_key, path_key, tokens_key, prefix + "kind", prefix + "distribution"})
    if (!context.valid(key)) return;
  const bool has_path = !set.profile_path.empty();
  if (set.kind != EvalKind::perplexity || set.distribution != Distribution::novel) {
    const std::string which = set.kind != EvalKind::perplexity ? std::string("kind = \"zero_shot\"")
                                                                : std::string("distribution = \"known\"");
    const auto refuse = [&](const std::string& key, const std::string& found) {
      context.error(context.where(key), key,
                    cat("found ", found, " with ", which,
                        ", expected no such key (only novel perplexity sets are profiled for a re-allocation)"));
    };
    if (set.profile != NovelProfile::transductive) refuse(profile_key, cat("\"", name_of(set.profile), "\""));
    if (has_path) refuse(path_key, "a file");
    if (set.profile_tokens != 0) refuse(tokens_key, cat(set.profile_tokens));
    return;
  }
  const bool given = context.present(profile_key);
  if (!given) set.profile = has_path ? NovelProfile::file : NovelProfile::transductive;
  const bool reallocates = e.quantization.channel_adjustment == ChannelAdjustment::reallocate &&
                           e.has_stage(Stage::allocate) && context.valid("quantization.channel_adjustment");
  if (!given && !has_path && reallocates) {
    context.error(context.where(prefix.substr(0, prefix.size() - 1)), profile_key,
                  "missing, expected profile_path = another file of this distribution (e.g. its training split), "
                  "profile = \"leading_slice\" (its first profile_tokens tokens, which are then not scored) or "
                  "profile = \"transductive\" (windows of the scored text itself), because "
                  "quantization.channel_adjustment = \"reallocate\" profiles this novel set");
    return;
  }
  const std::string mode = cat("profile = \"", name_of(set.profile), "\"");
  if (set.profile == NovelProfile::file && !has_path)
    context.error(context.where(profile_key), path_key,
                  "missing, expected the path of another file of this distribution because profile = \"file\"");
  if (set.profile != NovelProfile::file && has_path)
    context.error(context.where(path_key), path_key,
                  cat("found a file with ", mode, ", expected profile = \"file\" or no profile_path"));
  if (set.profile == NovelProfile::transductive && set.profile_tokens != 0)
    context.error(context.where(tokens_key), tokens_key,
                  cat("found ", set.profile_tokens, " with ", mode,
                      ", expected no profile_tokens (the transductive profile reads the scored tokens, max_tokens)"));
  if (set.profile != NovelProfile::leading_slice) return;
  if (set.protocol != PerplexityProtocol::windows && context.valid(prefix + "protocol")) {
    context.error(context.where(profile_key), profile_key,
                  cat("found \"leading_slice\" with protocol = \"", name_of(set.protocol),
                      "\", expected profile = \"file\" or protocol = \"windows\" (the GPTQ protocols fix the scored "
                      "tokens, so none can be set aside)"));
    return;
  }
  if (e.calibration.empty()) return;  // nothing is profiled without calibration sets (reported elsewhere)
  const CalibrationSet& windows = e.calibration.front();
  if (!context.present(tokens_key)) set.profile_tokens = windows.samples * windows.seq_len;
  const std::string where = context.present(tokens_key) ? tokens_key : profile_key;
  if (set.profile_tokens < windows.seq_len)
    context.error(context.where(where), tokens_key,
                  cat("found ", set.profile_tokens, ", expected at least seq_len = ", windows.seq_len,
                      " of the first [[calibration]] set (the profile windows' length)"));
  else if (set.max_tokens > 0 && set.profile_tokens > set.max_tokens - set.seq_len)
    context.error(context.where(where), tokens_key,
                  cat("found ", set.profile_tokens, " with max_tokens = ", set.max_tokens, ", expected at most ",
                      set.max_tokens - set.seq_len, " (max_tokens - seq_len: one scored window must remain)"));
}

void resolve_evaluation(Experiment& e, ReadContext& context) {
  for (size_t i = 0; i < e.evaluation.size(); ++i) {
    auto& set = e.evaluation[i];
    const std::string prefix = cat("evaluation.", i, ".");
    const bool zero_shot = set.kind == EvalKind::zero_shot;
    if (!context.present(prefix + "format"))
      set.format = zero_shot ? data::CorpusFormat::jsonl : format_from_extension(set.path);
    const bool kind_ok = context.valid(prefix + "kind");
    if (kind_ok && zero_shot && !set.task && context.valid(prefix + "task")) {
      const auto& tasks = EnumNames<data::TaskFormat>::names;
      context.error(context.where(prefix.substr(0, prefix.size() - 1)), prefix + "task",
                    cat("missing, expected one of ", quoted_list(std::vector<std::string>(tasks.begin(), tasks.end())),
                        " because kind = \"zero_shot\""));
    }
    if (kind_ok && !zero_shot && set.task)
      context.error(context.where(prefix + "task"), prefix + "task",
                    cat("found \"", name_of(*set.task), "\" with kind = \"perplexity\", expected no task "
                        "(task is for kind = \"zero_shot\")"));
    resolve_labels(set, prefix, context);
    if (kind_ok && zero_shot && set.format != data::CorpusFormat::jsonl && context.valid(prefix + "format"))
      context.error(context.where(prefix + "format"), prefix + "format",
                    "found \"text\" with kind = \"zero_shot\", expected \"jsonl\" (one task example per line)");
    if (!context.present(prefix + "stride")) {
      set.stride = set.seq_len;
    } else if (context.valid(prefix + "stride") && context.valid(prefix + "seq_len") && set.stride > set.seq_len) {
      context.error(context.where(prefix + "stride"), prefix + "stride",
                    cat("found ", set.stride, ", expected at most seq_len = ", set.seq_len,
                        " (windows may overlap, not leave gaps)"));
    }
    check_protocol(set, prefix, context);
    if (!context.present(prefix + "distribution")) {
      const bool known = std::any_of(e.calibration.begin(), e.calibration.end(),
                                     [&](const CalibrationSet& c) { return c.path == set.path; });
      set.distribution = known ? Distribution::known : Distribution::novel;
    }
    resolve_profile(e, set, prefix, context);
  }
  check_unique_names(e.evaluation, "evaluation", context);
}

// What each stage needs from the rest of the file.
void check_stage_requirements(const Experiment& e, ReadContext& context) {
  if (!context.valid("experiment.stages")) return;
  const Location stages_at = context.where("experiment.stages");
  const bool calibrates = e.has_stage(Stage::calibrate);
  const bool statistics_reused = e.runtime.resume;
  // A [[calibration]] / [[evaluation]] of the wrong type was reported already; "missing" would be noise.
  const bool no_calibration = e.calibration.empty() && context.valid("calibration");
  const bool no_evaluation = e.evaluation.empty() && context.valid("evaluation");
  if (calibrates && no_calibration)
    context.error(stages_at, "calibration",
                  "missing, expected at least one [[calibration]] table because experiment.stages includes "
                  "\"calibrate\"");
  if (e.has_stage(Stage::evaluate) && no_evaluation)
    context.error(stages_at, "evaluation",
                  "missing, expected at least one [[evaluation]] table because experiment.stages includes "
                  "\"evaluate\"");
  const bool needs_statistics = e.allocation.method != AllocationMethod::uniform;
  if (context.valid("allocation.method") && needs_statistics && !calibrates && !statistics_reused &&
      e.has_stage(Stage::allocate))
    context.error(context.present("allocation.method") ? context.where("allocation.method") : stages_at,
                  "allocation.method",
                  cat("found \"", name_of(e.allocation.method),
                      "\" without the \"calibrate\" stage, expected \"uniform\", or \"calibrate\" in "
                      "experiment.stages, or runtime.resume = true to reuse the statistics of an earlier run"));
  if (context.valid("quantization.method") && e.quantization.method == QuantMethod::gptq &&
      e.has_stage(Stage::quantize) && no_calibration)
    context.error(context.present("quantization.method") ? context.where("quantization.method") : stages_at,
                  "quantization.method",
                  "found \"gptq\" without any [[calibration]] table, expected \"rtn\" or a [[calibration]] table "
                  "(GPTQ needs calibration inputs)");
  if (e.has_stage(Stage::quantize) && !e.has_stage(Stage::allocate) && needs_statistics && !statistics_reused &&
      context.valid("allocation.method"))
    context.error(stages_at, "experiment.stages",
                  cat("found \"quantize\" without \"allocate\" while allocation.method = \"",
                      name_of(e.allocation.method),
                      "\", expected \"allocate\" as well, or runtime.resume = true to allocate from an earlier run's statistics"));
  if (!e.runtime.statistics_from.empty() && !e.runtime.resume && context.valid("runtime.resume"))
    context.error(context.where("runtime.statistics_from"), "runtime.statistics_from",
                  "found a folder while runtime.resume = false, expected runtime.resume = true as well (statistics "
                  "of an earlier run are only reused when resuming)");
  // The cached channels are those whose significance changes most between calibration distributions.
  if (e.quantization.caches_channels() && e.has_stage(Stage::quantize) && !statistics_reused &&
      context.valid("calibration") && (e.calibration.size() < 2 || !calibrates))
    context.error(context.present("quantization.channel_adjustment") ? context.where("quantization.channel_adjustment")
                                                                     : stages_at,
                  "quantization.channel_adjustment",
                  cat("found \"", name_of(e.quantization.channel_adjustment), "\" with ", e.calibration.size(), " [[calibration]] table(s)",
                      calibrates ? "" : " and no \"calibrate\" stage",
                      ", expected the \"calibrate\" stage over at least two calibration distributions (the cached "
                      "channels are those whose significance changes most between them)"));
}

}  // namespace

void resolve_and_validate(Experiment& experiment, ReadContext& context) {
  resolve_experiment(experiment, context);
  resolve_model(experiment, context);
  resolve_calibration(experiment, context);
  resolve_allocation(experiment, context);
  resolve_quantization(experiment, context);
  resolve_evaluation(experiment, context);
  check_stage_requirements(experiment, context);
}

}  // namespace moqa::config
