#include "pipeline/results_summary.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string_view>
#include <vector>

#include "allocate/allocation.h"
#include "config/to_toml.h"
#include "core/build_info.h"
#include "core/error.h"
#include "core/progress.h"
#include "io/atomic_file.h"
#include "io/hf_config.h"
#include "pipeline/channel_adjustment.h"
#include "pipeline/metrics.h"

namespace moqa::pipeline {
namespace {

using json = nlohmann::ordered_json;

constexpr int kFormatVersion = 1;

// A finite number, or null (JSON has no NaN; e.g. the standard error of a single example).
json number(double value) { return std::isfinite(value) ? json(value) : json(nullptr); }

json optional_number(const std::optional<double>& value) { return value ? number(*value) : json(nullptr); }

// A sweep assignment's TOML literal as a JSON value where the spelling agrees ("moqa", 3.0, true, [2, 4]),
// else the literal text.
json literal_value(const std::string& literal) {
  const json value = json::parse(literal, nullptr, /*allow_exceptions=*/false);
  return value.is_discarded() ? json(literal) : value;
}

json experiment_json(const config::Experiment& e) {
  json stages = json::array();
  for (const config::Stage s : e.experiment.stages) stages.push_back(config::name_of(s));
  return {{"name", e.experiment.name},
          {"description", e.experiment.description},
          {"seed", e.experiment.seed},
          {"config_file", e.config_file.string()},
          {"output_dir", e.experiment.output_dir.string()},
          {"stages", stages}};
}

json sweep_json(const config::Experiment& e) {
  if (e.run.index < 0) return nullptr;
  json assignments = json::object();
  for (const auto& [key, literal] : e.run.assignments) assignments[key] = literal_value(literal);
  return {{"index", e.run.index}, {"count", e.run.count}, {"suffix", e.run.suffix}, {"assignments", assignments}};
}

json provenance_json(const RunContext& context, const ResultsFile& file, const std::string& utc_finish) {
  return {{"git_commit", build_info::git_commit},
          {"moqa_version", build_info::version},
          {"build_type", build_info::build_type},
          {"compiler", build_info::compiler},
          {"cuda_build", build_info::cuda},
          {"ranks", context.session.size()},
          {"hostnames", file.hostnames},
          {"command_line", process_command_line()},
          {"utc_start", file.utc_start},
          {"utc_finish", utc_finish},
          {"config_toml", config::to_toml(context.experiment)}};
}

json model_json(const config::Experiment& e) {
  const ModelConfig c = load_hf_config(e.model.path / "config.json");
  const auto moe_layers = std::count(c.layer_is_moe.begin(), c.layer_is_moe.end(), true);
  return {{"path", e.model.path.string()},
          {"tokenizer", e.model.byte_level_tokens() ? std::string("bytes") : e.model.tokenizer.string()},
          {"model_type", arch_name(c.arch)},
          {"layers", c.num_layers},
          {"moe_layers", moe_layers},
          {"experts", c.num_experts},
          {"top_k", c.top_k},
          {"compute_dtype", config::name_of(e.model.compute_dtype)}};
}

json allocation_json(const config::Experiment& e, const std::optional<allocate::Allocation>& allocation,
                     const std::optional<ChannelAdjustmentPlan>& channels) {
  if (!allocation) return nullptr;
  json out = {{"method", allocate::to_string(allocation->method)},
              {"scope", allocate::to_string(allocation->scope)},
              {"target_bits", number(allocation->target_bits)},
              {"candidate_bits", e.allocation.candidate_bits},
              {"budget_counts_overhead", e.allocation.budget_counts_overhead},
              {"bits_experts", number(allocation->report.expert_mean_bits)},
              {"bits_all_linear", number(allocation->report.all_linear_mean_bits)},
              {"stored_bits_experts_with_overhead", number(allocation->report.expert_stored_mean_bits)},
              {"stored_bits_all_linear_with_overhead", number(allocation->report.all_linear_stored_mean_bits)},
              {"layer_bits_experts", allocation->report.layer_mean_bits}};
  if (channels) {
    out["stored_bits_experts"] = number(channels->stored_expert_mean_bits);
    out["stored_bits_all_linear"] = number(channels->stored_all_linear_mean_bits);
    // Each novel re-allocation with the text it was profiled on (pipeline/allocate/novel_profile.h).
    json novel = json::array();
    for (const NovelAllocation& n : channels->novel)
      novel.push_back({{"name", n.name},
                       {"profile", n.profile},
                       {"profile_source", n.profile_source},
                       {"profile_tokens", {n.profile_token_begin, n.profile_token_end}},
                       {"scored_from_token", n.scored_from_token},
                       {"windows", n.windows},
                       {"bits_experts", number(n.expert_mean_bits)},
                       {"stored_bits_experts", number(n.stored_expert_mean_bits)},
                       {"stored_bits_all_linear", number(n.stored_all_linear_mean_bits)},
                       {"changed_experts", n.changes.size()}});
    out["novel"] = novel;
  }
  return out;
}

json quantization_json(const config::Experiment& e) {
  if (!e.has_stage(config::Stage::quantize)) return nullptr;
  const config::QuantizationSection& q = e.quantization;
  json kept = json::array();
  for (const config::WeightGroup g : q.keep_full_precision) kept.push_back(config::name_of(g));
  return {{"method", config::name_of(q.method)},
          {"group_size", q.group_size},
          {"symmetric", q.symmetric},
          {"act_order", q.act_order},
          {"true_sequential", q.true_sequential},
          {"channel_adjustment", q.caches_channels()},
          {"channel_adjustment_mode", config::name_of(q.channel_adjustment)},
          {"keep_full_precision", kept}};
}

json dataset_json(const config::EvaluationSet& set) {
  json d = {{"name", set.name},
            {"kind", config::name_of(set.kind)},
            {"distribution", config::name_of(set.distribution)},
            {"path", set.path.string()}};
  if (set.kind == config::EvalKind::zero_shot) {
    d["task"] = set.task ? config::name_of(*set.task) : std::string_view();
    d["seq_len"] = set.seq_len;
    d["limit"] = set.limit;
  } else {
    d["protocol"] = config::name_of(set.protocol);
    d["seq_len"] = set.seq_len;
    d["stride"] = set.stride;
    d["max_tokens"] = set.max_tokens;
    d["first_scored_token"] = set.first_scored_token();
    if (set.distribution == config::Distribution::novel) {
      d["profile"] = config::name_of(set.profile);
      if (set.profile == config::NovelProfile::file) d["profile_path"] = set.profile_path.string();
      if (set.profile != config::NovelProfile::transductive) d["profile_tokens"] = set.profile_tokens;
    }
  }
  // add_bos as the TOML spells it: "tokenizer", true or false.
  d["add_bos"] = set.add_bos == data::BosPolicy::tokenizer ? json("tokenizer") : json(set.add_bos == data::BosPolicy::always);
  d["baseline"] = set.baseline;
  return d;
}

json perplexity_json(const DatasetEvaluation& d, const config::EvaluationSet& set) {
  const eval::PerplexityResult& r = *d.perplexity;
  return {{"distribution", config::name_of(set.distribution)},
          {"protocol", config::name_of(set.protocol)},
          {"documents", d.documents},
          {"windows_wanted", d.windows_wanted},
          {"shortfall", d.shortfall},
          {"ppl", number(r.perplexity())},
          {"nll", number(r.mean_nll())},
          {"nll_sum", number(r.sum.nll)},
          {"tokens", r.sum.targets},
          {"windows", r.windows},
          {"stream_tokens", r.stream_tokens},
          {"input_tokens", r.sum.input_tokens},
          {"seconds", number(r.seconds)},
          {"tokens_per_s", number(r.tokens_per_s())}};
}

json zero_shot_json(const eval::ZeroShotResult& r, const config::EvaluationSet& set) {
  json out = {{"distribution", config::name_of(set.distribution)},
          {"task", r.task},
          {"acc", number(r.acc())},
          {"acc_norm", number(r.acc_norm())},
          {"acc_stderr", number(r.acc_stderr())},
          {"acc_norm_stderr", number(r.acc_norm_stderr())},
          {"count", r.counts.examples},
          {"correct", r.counts.correct},
          {"correct_norm", r.counts.correct_norm},
          {"requests", r.counts.requests},
          {"truncated", r.counts.truncated},
          {"input_tokens", r.counts.input_tokens},
          {"seconds", number(r.seconds)}};
  if (!r.counts.confusion.empty()) {  // cb: lm-eval's macro F1, and its confusion matrix (row gold, column predicted)
    const size_t classes = static_cast<size_t>(eval::confusion_classes(r.counts.confusion));
    json rows = json::array();
    for (size_t g = 0; g < classes; ++g)
      rows.push_back(std::vector<int64_t>(r.counts.confusion.begin() + static_cast<std::ptrdiff_t>(g * classes),
                                          r.counts.confusion.begin() + static_cast<std::ptrdiff_t>((g + 1) * classes)));
    out["f1"] = number(r.f1());
    out["confusion"] = rows;
  }
  return out;
}

// Arithmetic mean of `field` over the entries of `metrics` in each distribution group (PAPER.md §5.2:
// the tables' Avg is the plain mean of the per-dataset numbers); null for an empty group.
json group_means(const json& metrics, const char* field) {
  json out = json::object();
  for (const char* group : {"known", "novel", "all"}) {
    double sum = 0.0;
    int count = 0;
    for (const auto& [name, m] : metrics.items()) {
      if (std::string_view(group) != "all" && m["distribution"] != group) continue;
      if (!m[field].is_number()) continue;
      sum += m[field].get<double>();
      ++count;
    }
    out[group] = count > 0 ? json(sum / count) : json(nullptr);
  }
  return out;
}

json models_json(const RunContext& context) {
  const config::Experiment& e = context.experiment;
  json models = json::array();
  for (const EvaluatedModel which : {EvaluatedModel::full_precision, EvaluatedModel::quantized}) {
    json perplexity = json::object(), zero_shot = json::object();
    bool any = false;
    for (const DatasetEvaluation& d : context.evaluations) {
      if (d.model != which) continue;
      any = true;
      const config::EvaluationSet& set = e.evaluation.at(d.set);
      json& entry = d.perplexity ? (perplexity[set.name] = perplexity_json(d, set))
                                 : (zero_shot[set.name] = zero_shot_json(*d.zero_shot, set));
      if (d.channel_adjusted) {
        entry["channel_adjusted"] = true;
        entry["adjusted_bits_experts"] = optional_number(d.adjusted_bits_experts);
        entry["adjusted_bits_all_linear"] = optional_number(d.adjusted_bits_all_linear);
      }
    }
    if (!any) continue;
    const ModelLabel label = label_model(which, e, context.allocation, context.channel_adjustment);
    models.push_back({{"model", model_key(which)},
                      {"method", label.method},
                      {"bits_experts", optional_number(label.bits_experts)},
                      {"bits_all_linear", optional_number(label.bits_all_linear)},
                      {"stored_bits_experts", optional_number(label.stored_bits_experts)},
                      {"stored_bits_all_linear", optional_number(label.stored_bits_all_linear)},
                      {"perplexity", perplexity},
                      {"zero_shot", zero_shot},
                      {"averages",
                       {{"ppl", group_means(perplexity, "ppl")},
                        {"acc", group_means(zero_shot, "acc")},
                        {"acc_norm", group_means(zero_shot, "acc_norm")}}}});
  }
  return models;
}

// ---- Markdown ----------------------------------------------------------------------------------------

std::string fixed(const json& value, int decimals, double scale = 1.0) {
  if (!value.is_number()) return "-";
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value.get<double>() * scale);
  return text;
}

std::string duration(double seconds) {
  char text[64];
  std::snprintf(text, sizeof text, "%.1f s", seconds);
  return seconds >= 60 ? cat(Progress::format_duration(seconds), " (", text, ")") : std::string(text);
}

std::string row(const std::vector<std::string>& cells) {
  std::string out = "|";
  for (const std::string& c : cells) out += cat(" ", c, " |");
  return out + "\n";
}

std::string rule(size_t text_columns, size_t number_columns) {
  std::string out = "|";
  for (size_t i = 0; i < text_columns; ++i) out += "---|";
  for (size_t i = 0; i < number_columns; ++i) out += "---:|";
  return out + "\n";
}

// The datasets of one kind ("perplexity" / "zero_shot"), known first, each group in TOML order.
std::vector<json> datasets_of(const json& summary, std::string_view kind) {
  std::vector<json> out;
  for (const char* group : {"known", "novel"})
    for (const json& d : summary["datasets"])
      if (d["kind"] == kind && d["distribution"] == group) out.push_back(d);
  return out;
}

// One results table: a row per model, the datasets of `section` grouped known / novel with group averages
// and the overall average, as PAPER.md Tables I and II.
std::string metric_table(const json& summary, std::string_view kind, const char* section, const char* field,
                         const char* average, int decimals, double scale, bool with_stderr) {
  const std::vector<json> datasets = datasets_of(summary, kind);
  // Bits without overhead (codes and cached channels) and stored (with scales, zero points, g_idx).
  std::vector<std::string> header{"method", "bits (experts)", "bits (all linear)", "stored bits (experts)",
                                  "stored bits (all linear)"};
  struct Column {
    std::string dataset;  // empty: an average
    std::string group;    // average: known / novel / all
  };
  std::vector<Column> columns;
  size_t known = 0, novel = 0;
  for (const json& d : datasets) (d["distribution"] == "known" ? known : novel)++;
  for (size_t i = 0; i < datasets.size(); ++i) {
    const std::string name = datasets[i]["name"].get<std::string>();
    const std::string group = datasets[i]["distribution"].get<std::string>();
    header.push_back(cat(name, " (", group, ")"));
    columns.push_back({name, ""});
    // A group average after the group's last dataset, when both groups are present and it has several.
    const bool last_of_group = i + 1 == datasets.size() || datasets[i + 1]["distribution"] != group;
    const size_t size = group == "known" ? known : novel;
    if (last_of_group && size > 1 && known > 0 && novel > 0) {
      header.push_back(cat("avg ", group));
      columns.push_back({"", group});
    }
  }
  if (datasets.size() > 1) {
    header.push_back("avg");
    columns.push_back({"", "all"});
  }
  std::string out = row(header) + rule(1, header.size() - 1);
  for (const json& m : summary["models"]) {
    std::vector<std::string> cells{m["method"].get<std::string>(), fixed(m["bits_experts"], 2),
                                   fixed(m["bits_all_linear"], 2), fixed(m.value("stored_bits_experts", json()), 2),
                                   fixed(m.value("stored_bits_all_linear", json()), 2)};
    for (const Column& c : columns) {
      if (c.dataset.empty()) {
        cells.push_back(fixed(m["averages"][average][c.group], decimals, scale));
        continue;
      }
      const json& metrics = m[section];
      if (!metrics.contains(c.dataset)) {
        cells.push_back("-");
        continue;
      }
      const json& v = metrics[c.dataset];
      std::string cell = fixed(v[field], decimals, scale);
      if (with_stderr && v[cat(field, "_stderr")].is_number())
        cell += cat(" ± ", fixed(v[cat(field, "_stderr")], decimals, scale));
      if (v.contains("channel_adjusted"))
        cell += cat(" (ca ", fixed(v["adjusted_bits_experts"], 2), " b)");
      cells.push_back(cell);
    }
    out += row(cells);
  }
  return out;
}

// The macro F1 of the zero-shot sets that have one (lm-eval reports it for cb), a row per model; "" if none.
std::string f1_table(const json& summary) {
  std::vector<std::string> names, header{"method", "bits (experts)", "bits (all linear)"};
  for (const json& d : datasets_of(summary, "zero_shot")) {
    const std::string name = d["name"].get<std::string>();
    for (const json& m : summary["models"])
      if (m["zero_shot"].contains(name) && m["zero_shot"][name].contains("f1")) {
        names.push_back(name);
        header.push_back(cat(name, " (", d["distribution"].get<std::string>(), ")"));
        break;
      }
  }
  if (names.empty()) return "";
  std::string out = row(header) + rule(1, header.size() - 1);
  for (const json& m : summary["models"]) {
    std::vector<std::string> cells{m["method"].get<std::string>(), fixed(m["bits_experts"], 2),
                                   fixed(m["bits_all_linear"], 2)};
    for (const std::string& name : names)
      cells.push_back(m["zero_shot"].contains(name) ? fixed(m["zero_shot"][name]["f1"], 2, 100.0) : "-");
    out += row(cells);
  }
  return out;
}

std::string details_table(const json& summary) {
  std::string out = row({"model", "dataset", "kind", "distribution", "scored", "windows / requests", "seconds",
                         "tokens/s"}) +
                    rule(4, 4);
  for (const json& m : summary["models"]) {
    for (const auto& [name, v] : m["perplexity"].items())
      out += row({m["model"].get<std::string>(), name, cat("perplexity (", v["protocol"].get<std::string>(), ")"),
                  v["distribution"].get<std::string>(),
                  cat(v["tokens"].get<int64_t>(), " tokens"), cat(v["windows"].get<int64_t>()), fixed(v["seconds"], 1),
                  fixed(v["tokens_per_s"], 0)});
    for (const auto& [name, v] : m["zero_shot"].items()) {
      const double seconds = v["seconds"].is_number() ? v["seconds"].get<double>() : 0.0;
      const json rate = seconds > 0 ? json(static_cast<double>(v["input_tokens"].get<int64_t>()) / seconds) : json();
      out += row({m["model"].get<std::string>(), name, cat("zero_shot (", v["task"].get<std::string>(), ")"),
                  v["distribution"].get<std::string>(), cat(v["count"].get<int64_t>(), " examples"),
                  cat(v["requests"].get<int64_t>()), fixed(v["seconds"], 1), fixed(rate, 0)});
    }
  }
  return out;
}

}  // namespace

json summarize_run(const RunContext& context, const ResultsFile& file, const std::string& utc_finish,
                   double wall_time_s) {
  const config::Experiment& e = context.experiment;
  json datasets = json::array();
  for (const config::EvaluationSet& set : e.evaluation) datasets.push_back(dataset_json(set));
  json stages = json::array();
  for (const StageTime& t : context.stage_times)
    stages.push_back({{"stage", config::name_of(t.stage)}, {"wall_time_s", number(t.seconds)}});
  return {{"format", "moqa-results"},
          {"format_version", kFormatVersion},
          {"experiment", experiment_json(e)},
          {"sweep", sweep_json(e)},
          {"provenance", provenance_json(context, file, utc_finish)},
          {"model", model_json(e)},
          {"allocation", allocation_json(e, context.allocation, context.channel_adjustment)},
          {"quantization", quantization_json(e)},
          {"datasets", datasets},
          {"models", models_json(context)},
          {"stages", stages},
          {"wall_time_s", number(wall_time_s)}};
}

std::string render_markdown(const json& s) {
  const json& x = s["experiment"];
  const json& p = s["provenance"];
  const json& m = s["model"];
  std::string out = cat("# ", x["name"].get<std::string>(), "\n\n");
  if (!x["description"].get<std::string>().empty()) out += cat(x["description"].get<std::string>(), "\n\n");
  out += cat("- Model `", m["path"].get<std::string>(), "` (", m["model_type"].get<std::string>(), ", ",
             m["layers"].get<int64_t>(), " layers, ", m["experts"].get<int64_t>(), " routed experts, top-",
             m["top_k"].get<int64_t>(), ", compute ", m["compute_dtype"].get<std::string>(), ")\n");
  out += cat("- Run on ", p["ranks"].get<int64_t>(), p["ranks"].get<int64_t>() == 1 ? " rank" : " ranks", ", moqa ",
             p["moqa_version"].get<std::string>(), " (", p["git_commit"].get<std::string>(), "), seed ",
             x["seed"].get<int64_t>(), ", finished ", p["utc_finish"].get<std::string>(), "\n");
  if (const json& sweep = s["sweep"]; !sweep.is_null()) {
    out += cat("- Sweep run ", sweep["index"].get<int64_t>(), " of ", sweep["count"].get<int64_t>(), " (`",
               sweep["suffix"].get<std::string>(), "`):");
    for (const auto& [key, value] : sweep["assignments"].items()) out += cat(" `", key, " = ", value.dump(), "`");
    out += "\n";
  }
  if (const json& a = s["allocation"]; !a.is_null())
    out += cat("- Allocation `", a["method"].get<std::string>(), "` (scope ", a["scope"].get<std::string>(),
               ", target ", fixed(a["target_bits"], 2), " bits, candidates ", a["candidate_bits"].dump(),
               "): ", fixed(a["bits_experts"], 3), " bits over the routed experts, ", fixed(a["bits_all_linear"], 3),
               " over all linear weights counted; stored with scales, zero points and g_idx ",
               fixed(a.value("stored_bits_experts_with_overhead", json()), 3), " and ",
               fixed(a.value("stored_bits_all_linear_with_overhead", json()), 3), " (the budget counts ",
               a.value("budget_counts_overhead", false) ? "them" : "codes and cached channels only", ")",
               a.contains("stored_bits_experts")
                   ? cat("; with the cached channels in full precision ", fixed(a["stored_bits_experts"], 3), " and ",
                         fixed(a["stored_bits_all_linear"], 3))
                   : std::string(),
               "\n");
  if (const json& q = s["quantization"]; !q.is_null())
    out += cat("- Quantizer `", q["method"].get<std::string>(), "`, group size ", q["group_size"].get<int64_t>(),
               q["symmetric"].get<bool>() ? ", symmetric" : ", asymmetric",
               q["channel_adjustment"].get<bool>() ? ", channel adjustment" : "", "; kept in full precision: ",
               q["keep_full_precision"].dump(), "\n");
  out += "\nBits: parameter-weighted mean width of the routed experts, and of every linear weight counted in the "
         "average (full-precision ones at 16, channels cached by channel adjustment included); \"stored\" adds the "
         "scales, zero points and g_idx of group-wise quantization (docs/ALLOCATION.md §4.1). The FP row is the "
         "unquantized model.\n";

  if (const std::vector<json> sets = datasets_of(s, "perplexity"); !sets.empty()) {
    out += cat("\n## Perplexity (lower is better)\n\n",
               metric_table(s, "perplexity", "perplexity", "ppl", "ppl", 2, 1.0, false));
    out += "\nProtocols (docs/EVALUATION.md, \"Perplexity protocols\"):";
    for (const json& d : sets)
      out += cat(" `", d["name"].get<std::string>(), "` ", d["protocol"].get<std::string>(), ", seq_len ",
                 d["seq_len"].get<int64_t>(), ";");
    out.back() = '.';
    out += "\n";
    // What a stream lacks of its protocol is the same for every model: said once per set.
    std::vector<std::string> said;
    for (const json& model : s["models"])
      for (const auto& [name, v] : model["perplexity"].items())
        if (!v["shortfall"].get<std::string>().empty() && std::find(said.begin(), said.end(), name) == said.end()) {
          said.push_back(name);
          out +=
              cat("- `", name, "` (", v["protocol"].get<std::string>(), "): ", v["shortfall"].get<std::string>(), "\n");
        }
  }
  if (!datasets_of(s, "zero_shot").empty()) {
    out += cat("\n## Zero-shot accuracy, acc (%, ± standard error)\n\n",
               metric_table(s, "zero_shot", "zero_shot", "acc", "acc", 2, 100.0, true));
    out += cat("\n## Zero-shot accuracy, acc_norm (%, ± standard error)\n\n",
               metric_table(s, "zero_shot", "zero_shot", "acc_norm", "acc_norm", 2, 100.0, true));
    if (const std::string f1 = f1_table(s); !f1.empty())
      out += cat("\n## Zero-shot macro F1 (%; lm-eval reports it for cb: mean of the per-class F1)\n\n", f1);
  }
  out += "\nKnown distributions were used for calibration; novel ones were not. Averages are plain means of the "
         "per-dataset numbers.\n";
  if (const json& q = s["quantization"]; !q.is_null() && q["channel_adjustment"].get<bool>())
    out += "\"(ca B b)\": measured on the quantized model with its cached channels adjusted to that novel "
           "distribution, which stores B bits per routed-expert weight.\n";
  if (const json& a = s["allocation"]; !a.is_null() && a.contains("novel"))
    for (const json& n : a["novel"]) {
      const std::string profile = n["profile"].get<std::string>();
      out += cat("- `", n["name"].get<std::string>(), "` re-allocated from ", n["windows"].get<int64_t>(),
                 " windows of ", profile, " profile text: tokens [", n["profile_tokens"][0].get<int64_t>(), ", ",
                 n["profile_tokens"][1].get<int64_t>(), ") of `", n["profile_source"].get<std::string>(), "`",
                 profile == "transductive" ? " (the scored text itself)"
                 : profile == "leading_slice"
                     ? cat(" (no model scores them: windows start at token ", n["scored_from_token"].get<int64_t>(),
                           ")")
                     : std::string(" (a file that is not scored)"),
                 "; ", n["changed_experts"].get<int64_t>(), " experts change width.\n");
    }

  out += "\n## Wall time per stage\n\n" + row({"stage", "wall time"}) + rule(1, 1);
  for (const json& t : s["stages"])
    out += row({t["stage"].get<std::string>(),
                t["wall_time_s"].is_number() ? duration(t["wall_time_s"].get<double>()) : "-"});
  out += row({"**total**", s["wall_time_s"].is_number() ? duration(s["wall_time_s"].get<double>()) : "-"});

  if (!s["models"].empty()) out += "\n## Evaluation details\n\n" + details_table(s);
  return out;
}

RunSummary render_run_summary(const RunContext& context, const ResultsFile& file, const std::string& utc_finish) {
  const double wall_time_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - file.start).count();
  const json summary = summarize_run(context, file, utc_finish, wall_time_s);
  return {.json = summary.dump(2) + "\n", .markdown = render_markdown(summary)};
}

SummaryFiles summary_files(const std::filesystem::path& output_dir) {
  return {output_dir / "results.json", output_dir / "results.md"};
}

void remove_run_summary(const std::filesystem::path& output_dir) {
  const SummaryFiles files = summary_files(output_dir);
  for (const std::filesystem::path& path : {files.json, files.markdown}) {
    std::error_code ec;
    std::filesystem::remove(path, ec);
    MOQA_CHECK(!ec, path.string(), ": cannot remove the summary of an earlier run: ", ec.message());
  }
}

SummaryFiles write_run_summary(const std::filesystem::path& output_dir, const RunSummary& summary) {
  const SummaryFiles out = summary_files(output_dir);
  io::write_file_atomic(out.json, summary.json);
  io::write_file_atomic(out.markdown, summary.markdown);
  return out;
}

}  // namespace moqa::pipeline
