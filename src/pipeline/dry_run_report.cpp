#include "pipeline/dry_run_report.h"

#include <ostream>
#include <sstream>

#include "config/to_toml.h"
#include "core/units.h"
#include "dist/shard_plan.h"
#include "io/hf_config.h"
#include "pipeline/rank_model.h"

namespace moqa::pipeline {
namespace {

using namespace moqa::config;

const char* on_off(bool value) { return value ? "on" : "off"; }

std::string bits_text(const std::vector<int>& bits) {
  std::string out;
  for (size_t i = 0; i < bits.size(); ++i) out += cat(i ? "/" : "", bits[i]);
  return out;
}

template <class E>
std::string names_text(const std::vector<E>& values) {
  if (values.empty()) return "none";
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) out += cat(i ? ", " : "", name_of(values[i]));
  return out;
}

std::string file_size_text(const std::filesystem::path& path) {
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(path, ec);
  if (ec) return "size unknown";
  const bool compressed = path.extension() == ".xz";
  return cat(format_bytes(static_cast<int64_t>(bytes)), compressed ? " (xz)" : "");
}

void print_datasets(std::ostream& out, const Experiment& e) {
  for (const auto& c : e.calibration)
    out << "  calibration  " << c.name << ": " << c.path.string() << "\n"
        << "               " << name_of(c.format) << (c.format == data::CorpusFormat::jsonl ? cat(" (field \"", c.field, "\")") : "")
        << ", " << file_size_text(c.path) << "; " << c.samples << " windows x " << c.seq_len << " tokens"
        << (c.max_tokens > 0 ? cat(", first ", c.max_tokens, " tokens of the file") : "") << "\n";
  for (const auto& v : e.evaluation) {
    out << "  evaluation   " << v.name << ": " << v.path.string() << "\n"
        << "               " << name_of(v.format) << ", " << file_size_text(v.path) << "; " << name_of(v.kind);
    if (v.kind == EvalKind::zero_shot) {
      out << " " << name_of(*v.task) << (v.limit > 0 ? cat(", first ", v.limit, " examples") : "");
    } else {
      out << ", windows of " << v.seq_len << " tokens, stride " << v.stride
          << (v.max_tokens > 0 ? cat(", first ", v.max_tokens, " tokens") : "");
    }
    out << "; " << name_of(v.distribution) << " distribution\n";
  }
}

}  // namespace

std::string stage_summary(const Experiment& e, Stage stage) {
  switch (stage) {
    case Stage::calibrate: {
      const auto& a = e.analysis;
      return cat(e.calibration.size(), " distribution", e.calibration.size() == 1 ? "" : "s",
                 "; activation ", on_off(a.activation), ", significance ", on_off(a.significance), " (",
                 name_of(a.channel_significance), a.router_weighted ? ", router-weighted" : "",
                 a.token_reweighting > 0 ? cat(", token re-weighting a=", a.token_reweighting) : "", "), correlation ",
                 on_off(a.correlation), "; fit ", name_of(a.fit),
                 e.runtime.resume ? "; reuses the earlier run's statistics where nothing they depend on changed" : "");
    }
    case Stage::allocate: {
      const auto& a = e.allocation;
      std::string text = cat(name_of(a.method), ", target ", a.target_bits, " bits");
      if (a.method != AllocationMethod::uniform)
        text += cat(" from {", bits_text(a.candidate_bits), "}, scope ", name_of(a.scope), ", budget ",
                    a.enforce_budget ? "enforced" : "not enforced");
      if (a.method == AllocationMethod::moqa)
        text += cat("; fuzzy c-means: ", a.fcm_clusters, " clusters, m=", a.fcm_m, ", overlap margin ",
                    a.overlap_margin);
      if (a.method == AllocationMethod::moqa_v1)
        text += cat("; ", name_of(a.v1_threshold_mode), " threshold T=", a.v1_threshold, ", widths ",
                    a.v1_high_bits ? std::to_string(a.v1_high_bits) : std::string("auto"), "/",
                    a.v1_low_bits ? std::to_string(a.v1_low_bits) : std::string("auto"),
                    a.v1_coactivation ? cat(", co-activation shaping >= ", a.v1_coactivation_threshold) : "");
      if (a.method == AllocationMethod::frequency) text += cat("; fill ", name_of(a.frequency_fill));
      return text;
    }
    case Stage::quantize: {
      const auto& q = e.quantization;
      std::string text = cat(name_of(q.method), ", ",
                             q.group_size > 0 ? cat("group ", q.group_size) : std::string("per-channel"), ", ",
                             q.symmetric ? "symmetric" : "asymmetric");
      if (q.method == QuantMethod::gptq)
        text += cat(", ", name_of(q.gptq_variant), ", damp ", q.damp_percent, ", block ", q.block_size,
                    q.act_order ? ", act-order" : "",
                    q.true_sequential ? ", true-sequential" : "");
      text += cat("; full precision: ", names_text(q.keep_full_precision));
      if (q.caches_channels())
        text += cat("; channel adjustment ", name_of(q.channel_adjustment), " (top ", e.analysis.channel_fraction * 100,
                    "%)");
      if (q.save_checkpoint) text += "; saves checkpoint";
      if (q.export_dequantized) text += "; dequantized export";
      if (e.runtime.resume && (q.save_checkpoint || q.export_dequantized))
        text += "; reuses the saved checkpoint where nothing it depends on changed";
      return text;
    }
    case Stage::evaluate: {
      std::string text;
      for (const auto& v : e.evaluation)
        text += cat(text.empty() ? "" : ", ", v.name, " (", name_of(v.kind), ", ", name_of(v.distribution), ")");
      return text;
    }
  }
  return {};
}

std::string format_sweep_runs(const std::vector<SweepRun>& runs) {
  std::ostringstream out;
  size_t width = 0;
  for (const auto& run : runs) width = std::max(width, run.suffix.size());
  for (const auto& run : runs) {
    out << "  " << run.index << "  " << run.suffix << std::string(width - run.suffix.size() + 2, ' ');
    for (size_t i = 0; i < run.overrides.size(); ++i)
      out << (i ? ", " : "") << run.overrides[i].key << "=" << run.overrides[i].value;
    out << "\n";
  }
  return out.str();
}

void print_plan(std::ostream& out, const Experiment& e, int world_size, const std::vector<SweepRun>& runs) {
  const ModelConfig model = load_hf_config(e.model.path / "config.json");

  out << "Dry run of " << e.config_file.string() << ": nothing is computed.\n"
      << "Experiment \"" << e.experiment.name << "\" -> " << e.experiment.output_dir.string() << "\n";
  if (e.run.index >= 0) out << "Sweep run " << e.run.index << " of " << e.run.count << ": " << e.run.suffix << "\n";

  out << "\n== Resolved configuration ==\n" << to_toml(e);

  out << "\n== Model ==\n" << describe(model);
  out << "tokenizer: " << (e.model.byte_level_tokens() ? std::string("byte-level ids") : e.model.tokenizer.string())
      << "; compute dtype " << name_of(e.model.compute_dtype) << "\n";

  out << "\n== Datasets ==\n";
  print_datasets(out, e);

  out << "\n== Expert-to-rank plan (" << world_size << (world_size == 1 ? " rank" : " ranks") << ") ==\n"
      << dist::format_shard_plan(rank_shard_plan(e, model, world_size));

  out << "\n== Stages ==\n";
  int number = 1;
  for (const Stage stage : e.experiment.stages)
    out << "  " << number++ << ". " << name_of(stage) << ": " << stage_summary(e, stage) << "\n";

  if (runs.size() > 1 || (!runs.empty() && !runs.front().overrides.empty())) {
    out << "\n== Sweep: " << runs.size() << " run" << (runs.size() == 1 ? "" : "s")
        << " (the plan above is the base experiment) ==\n"
        << format_sweep_runs(runs);
  }
}

}  // namespace moqa::pipeline
