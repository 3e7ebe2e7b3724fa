#pragma once
// The experiment schema as plain data: what an experiment TOML says, fully resolved (defaults filled in,
// paths absolute, derived values computed). Later stages read only this struct, never the TOML.
// docs/CONFIG.md documents every key; src/config/schema.h binds the keys to these members.
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "data/corpus_format.h"
#include "quant/gptq_variant.h"
#include "quant/scale_dtype.h"

#include "data/perplexity_protocol.h"
#include "data/sample_mode.h"
#include "data/bos_policy.h"
#include "data/task_format.h"

namespace moqa::config {

// Stages run in this order whatever order the TOML lists them in.
enum class Stage { calibrate, allocate, quantize, evaluate };
enum class ComputeDtype { float32, bfloat16, float16 };
// Corpus formats are data::CorpusFormat (data/corpus_format.h), named by the `format` keys.
using data::SampleMode;          // data/sample_mode.h
using data::PerplexityProtocol;  // data/perplexity_protocol.h
// Input-side measures (mean_abs .. hessian_diag) read the expert's input x, the same for every expert of a
// layer; output-side ones (output_mean_abs, output_saliency, sensitivity) read the expert's own SwiGLU
// activations and outputs on its owner rank (src/analysis/significance.h defines each).
enum class ChannelSignificance { mean_abs, rms, saliency, hessian_diag, output_mean_abs, output_saliency, sensitivity };
enum class SignificanceFit { mean, mean_var };
enum class ChannelMeasure { variance, range };
enum class AllocationMethod { uniform, moqa, moqa_v1, frequency, budgeted, moeptq };
enum class AllocationScope { layer, global };
enum class ThresholdMode { mean_ratio, quantile };
enum class FrequencyFill { breadth, depth };
enum class QuantMethod { rtn, gptq };
// quantization.channel_adjustment (docs/QUANTIZATION.md §5): no cache; the FP channel cache only (the control
// "BQ + FP cache, no re-allocation": novel sets are served by the baseline with its cache); the cache plus
// re-allocation and re-quantization of the cached channels for every novel distribution. TOML true / false
// are read as "reallocate" / "off" (configurations written before the modes existed).
enum class ChannelAdjustment { off, cache_only, reallocate };
// Groups of weights, used both for "what stays in full precision" and "what counts in the average".
enum class WeightGroup { experts, shared_experts, attention, router, dense_layers, embeddings, lm_head };
enum class EvalKind { perplexity, zero_shot };
enum class Distribution { known, novel };
// [[evaluation]] profile (docs/ALLOCATION.md, "Profiling a novel distribution"): the text a novel perplexity set
// is profiled on when quantization.channel_adjustment = "reallocate". file: another file of the same
// distribution (profile_path); leading_slice: the first profile_tokens tokens of the scored stream, which then
// no model scores; transductive: random windows of the scored text itself (the behaviour before the choice).
enum class NovelProfile { transductive, file, leading_slice };
enum class Device { automatic, cpu, cuda };

// TOML spelling of each enumerator, indexed by the enumerator's value.
template <class E>
struct EnumNames;
#define MOQA_ENUM_NAMES(E, ...)                                                      \
  template <>                                                                        \
  struct EnumNames<E> {                                                              \
    static constexpr auto names = std::to_array<std::string_view>({__VA_ARGS__});   \
  }
MOQA_ENUM_NAMES(Stage, "calibrate", "allocate", "quantize", "evaluate");
MOQA_ENUM_NAMES(ComputeDtype, "float32", "bfloat16", "float16");
MOQA_ENUM_NAMES(data::CorpusFormat, "text", "jsonl");
MOQA_ENUM_NAMES(SampleMode, "random_offsets", "disjoint", "gptq");
MOQA_ENUM_NAMES(PerplexityProtocol, "windows", "gptq-wikitext2", "gptq-c4-new");
MOQA_ENUM_NAMES(ChannelSignificance, "mean_abs", "rms", "saliency", "hessian_diag", "output_mean_abs",
                "output_saliency", "sensitivity");
MOQA_ENUM_NAMES(SignificanceFit, "mean", "mean_var");
MOQA_ENUM_NAMES(ChannelMeasure, "variance", "range");
MOQA_ENUM_NAMES(AllocationMethod, "uniform", "moqa", "moqa-v1", "frequency", "budgeted", "moeptq");
MOQA_ENUM_NAMES(AllocationScope, "layer", "global");
MOQA_ENUM_NAMES(ThresholdMode, "mean_ratio", "quantile");
MOQA_ENUM_NAMES(FrequencyFill, "breadth", "depth");
MOQA_ENUM_NAMES(QuantMethod, "rtn", "gptq");
MOQA_ENUM_NAMES(ChannelAdjustment, "off", "cache_only", "reallocate");
MOQA_ENUM_NAMES(quant::GptqVariant, "reference", "updated-groups");
MOQA_ENUM_NAMES(WeightGroup, "experts", "shared_experts", "attention", "router", "dense_layers", "embeddings",
                "lm_head");
MOQA_ENUM_NAMES(EvalKind, "perplexity", "zero_shot");
MOQA_ENUM_NAMES(Distribution, "known", "novel");
MOQA_ENUM_NAMES(NovelProfile, "transductive", "file", "leading_slice");
MOQA_ENUM_NAMES(quant::ScaleDtype, "f16", "f32");
MOQA_ENUM_NAMES(Device, "auto", "cpu", "cuda");
#undef MOQA_ENUM_NAMES
// Zero-shot tasks are the task loader's own enum (data/task_format.h), spelled as it spells them.
template <>
struct EnumNames<data::TaskFormat> {
  static constexpr auto names = data::kTaskFormatNames;
};

template <class E>
constexpr std::string_view name_of(E value) {
  return EnumNames<E>::names[static_cast<size_t>(value)];
}

template <class E>
constexpr std::optional<E> parse_enum(std::string_view name) {
  const auto& names = EnumNames<E>::names;
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<E>(i);
  return std::nullopt;
}

// Bit widths the quantizers implement.
inline constexpr std::array<int, 5> kSupportedBits{2, 3, 4, 6, 8};

struct ExperimentSection {
  std::string name;                     // required; [A-Za-z0-9_.-]+
  int64_t seed = 0;                     // every seeded choice (sampling, FCM init) derives from it
  std::filesystem::path output_dir;     // resolved; default <cwd>/results/<name>
  std::vector<Stage> stages{Stage::calibrate, Stage::allocate, Stage::quantize, Stage::evaluate};
  std::string description;
  bool operator==(const ExperimentSection&) const = default;
};

struct ModelSection {
  std::filesystem::path path;       // Hugging Face model directory (has config.json)
  std::filesystem::path tokenizer;  // tokenizer.json; empty = byte-level ids (TOML: "bytes")
  ComputeDtype compute_dtype = ComputeDtype::float32;
  bool byte_level_tokens() const { return tokenizer.empty(); }
  bool operator==(const ModelSection&) const = default;
};

// results.h5 keeps the fit over all distributions in /analysis/synthesized, next to one group per
// [[calibration]] name: no distribution may take this name.
inline constexpr std::string_view kReservedCalibrationName = "synthesized";

// One calibration distribution D.
struct CalibrationSet {
  std::string name;
  std::filesystem::path path;  // .xz-compressed files allowed
  data::CorpusFormat format = data::CorpusFormat::text;
  std::string field = "text";  // jsonl: the field holding the text
  int64_t samples = 32;        // windows drawn by the seeded sampler
  SampleMode sampling = SampleMode::random_offsets;
  int64_t seq_len = 512;       // tokens per window
  int64_t max_tokens = 0;      // tokenize at most this many tokens of the file; 0 = whole file
  bool operator==(const CalibrationSet&) const = default;
};

struct AnalysisSection {
  bool activation = true;    // stage 1: routed-token counts, gate mass
  bool significance = true;  // stage 2: channel and expert significance
  bool correlation = true;   // stage 3: co-activation counts and correlation
  ChannelSignificance channel_significance = ChannelSignificance::output_mean_abs;
  bool router_weighted = true;     // weight each token's activations by its gate probability
  double token_reweighting = 0.0;  // v1's factor `a`; 0 = off
  int sensitivity_bits = 2;        // sensitivity: the RTN reference width (quantization's group size and symmetry)
  SignificanceFit fit = SignificanceFit::mean;
  double fit_std_weight = 1.0;     // fit = "mean_var": score = mean + weight * std of S_exp over distributions
  double channel_fraction = 0.01;  // fraction of channels per expert tracked for channel adjustment
  ChannelMeasure channel_measure = ChannelMeasure::variance;  // cross-distribution change of S_ch
  bool operator==(const AnalysisSection&) const = default;
};

struct AllocationSection {
  AllocationMethod method = AllocationMethod::moqa;
  double target_bits = 3.0;               // parameter-weighted mean bits (uniform: the width itself)
  std::vector<int> candidate_bits{2, 4, 6, 8};  // sorted ascending
  AllocationScope scope = AllocationScope::layer;
  bool enforce_budget = true;             // moqa, moqa-v1: demote until the mean is within target_bits
  bool budget_counts_all_linear = false;  // target over all linear weights (count_in_average), not experts only
  double correlation_weight = 0.25;       // moqa: pull of co-activated experts' scores (0 = correlation unused)
  int64_t fcm_clusters = 4;
  double fcm_m = 2.0;
  double fcm_tolerance = 1e-6;
  // target_bits counts what is stored: scale/zero/g_idx bytes of group-wise quantization and cached FP
  // channels, not only the codes (docs/ALLOCATION.md, "Stored bits").
  bool budget_counts_overhead = true;
  // > 0: target_bits is replaced by the stored bits of uniform quantization at this width (same model,
  // group size, scale dtype, no cache), so every method of a table meets one stored-bit budget.
  int match_uniform_bits = 0;
  // After the method, spend what is left of the budget: promote experts one candidate level at a time,
  // highest score first, while it fits (moqa, moqa-v1, budgeted; moeptq and frequency fill by construction).
  bool fill_budget = true;
  int moeptq_high_bits = 0;  // moeptq: width of the most frequently routed experts; 0 = smallest candidate above
  int moeptq_low_bits = 0;   // moeptq: width of the others; 0 = largest candidate below the experts' target
  // Widths of non-expert weights that are quantized (not kept): 0 = non_expert_bits(); moeptq's
  // "attention / shared experts at higher width" variants set these.
  int attention_bits = 0;
  int shared_expert_bits = 0;
  int64_t fcm_max_iterations = 300;
  int64_t fcm_restarts = 4;
  double overlap_margin = 0.1;  // top-two membership gap below which the lower precision wins
  ThresholdMode v1_threshold_mode = ThresholdMode::mean_ratio;
  double v1_threshold = 1.0;    // T: mean_ratio: high iff S >= T * layer mean; quantile: top (1 - T)
  int v1_high_bits = 0;         // 0: the smallest candidate above target_bits
  int v1_low_bits = 0;          // 0: the largest candidate below target_bits
  bool v1_coactivation = false;
  double v1_coactivation_threshold = 0.5;
  FrequencyFill frequency_fill = FrequencyFill::breadth;
  int64_t max_dp_cells = int64_t{1} << 25;  // budgeted: DP table size before the budget unit is coarsened
  std::vector<WeightGroup> count_in_average{WeightGroup::experts, WeightGroup::shared_experts,
                                            WeightGroup::attention, WeightGroup::router,
                                            WeightGroup::dense_layers};
  bool operator==(const AllocationSection&) const = default;
};

struct QuantizationSection {
  QuantMethod method = QuantMethod::gptq;
  int64_t group_size = 128;  // 0 = per output channel (TOML also accepts -1)
  bool symmetric = false;
  bool act_order = false;
  double damp_percent = 0.01;  // GPTQ damping, fraction of mean diag(H)
  int64_t block_size = 128;    // GPTQ lazy-update block (columns)
  bool static_groups = false;  // GPTQ with act_order: group grids fitted up front in input order
  quant::GptqVariant gptq_variant = quant::GptqVariant::reference;  // quant/gptq.h: the published GPTQ or moqa's
  bool true_sequential = false;  // GPTQ: within a layer, later linears' inputs come from quantized earlier ones
  std::vector<WeightGroup> keep_full_precision{WeightGroup::shared_experts, WeightGroup::attention,
                                               WeightGroup::router,         WeightGroup::dense_layers,
                                               WeightGroup::embeddings,     WeightGroup::lm_head};
  ChannelAdjustment channel_adjustment = ChannelAdjustment::off;
  bool caches_channels() const { return channel_adjustment != ChannelAdjustment::off; }
  quant::ScaleDtype scale_dtype = quant::ScaleDtype::f16;  // how group scales are computed and stored
  bool save_checkpoint = false;
  bool export_dequantized = false;
  bool keeps(WeightGroup group) const;
  bool operator==(const QuantizationSection&) const = default;
};

struct EvaluationSet {
  std::string name;
  EvalKind kind = EvalKind::perplexity;
  std::filesystem::path path;
  data::CorpusFormat format = data::CorpusFormat::text;  // default: jsonl for zero_shot and *.jsonl[.xz], else text
  std::string field = "text";
  std::optional<data::TaskFormat> task;  // zero_shot only
  // zero_shot, piqa: the separate labels file (one label per line, in record order); default <stem>-labels.lst
  // beside <stem>.jsonl when it exists (PIQA's release: dev.jsonl + dev-labels.lst); empty: labels in the records
  std::filesystem::path labels;
  Distribution distribution = Distribution::novel;  // default: known iff path is a calibration path
  PerplexityProtocol protocol = PerplexityProtocol::windows;  // perplexity: which tokens and windows are scored
  int64_t seq_len = 512;
  int64_t stride = 512;                  // default seq_len
  int64_t max_tokens = 0;                // 0 = whole file
  bool keep_partial_last = false;        // also score a shorter last window
  int64_t limit = 0;                     // zero_shot: at most this many examples; 0 = all
  // Whether scored texts start with the BOS token (perplexity and zero_shot): TOML "tokenizer" (its
  // post-processor decides), true (always one BOS) or false (no special tokens); data/bos_policy.h.
  data::BosPolicy add_bos = data::BosPolicy::tokenizer;
  bool baseline = true;                  // also evaluate the full-precision model (when a quantized one exists)
  // novel perplexity sets: what a re-allocating run profiles the distribution on. Default: file when
  // profile_path is set, else transductive unless the run re-allocates (then the key is required).
  NovelProfile profile = NovelProfile::transductive;
  std::filesystem::path profile_path;    // profile = "file": same format and field as path; empty (TOML "none")
  // file / leading_slice: the profile text is tokens [0, profile_tokens) of its source; file: 0 = the whole
  // file; leading_slice: default samples x seq_len of the first [[calibration]] set.
  int64_t profile_tokens = 0;
  // The first token of the scored stream a perplexity window may start at: profile_tokens with
  // leading_slice (the slice is never scored, by any model), else 0.
  int64_t first_scored_token() const { return profile == NovelProfile::leading_slice ? profile_tokens : 0; }
  bool operator==(const EvaluationSet&) const = default;
};

struct RuntimeSection {
  Device device = Device::automatic;
  int64_t threads = 0;  // 0 = hardware concurrency / ranks per node
  int64_t batch_windows = 4;
  bool stream_weights = false;
  // Hidden states of all windows of a layer-major pass (calibrate; evaluate under stream_weights) kept in
  // memory per rank (MiB); beyond it they are spilled to a scratch file in output_dir (model/hidden_store.h).
  int64_t hidden_state_memory_mib = 4096;
  double progress_interval_s = 2.0;  // 0 = only the final line of each stage
  // The memory one rank may use, "auto" or a size with its unit ("20 GiB", "512 MiB"): a run whose memory
  // plan (plan/memory_plan.h) exceeds it is refused before any weight is read. "auto": the machine's
  // available memory shared by the ranks of a node, for CUDA the device's free memory.
  std::string memory_limit = "auto";
  bool resume = false;
  // With resume: the output folder of the run whose calibration statistics are reused; empty (TOML
  // "output_dir") = this run's output_dir.
  std::filesystem::path statistics_from;
  bool operator==(const RuntimeSection&) const = default;
};

// One [sweep] entry: a dotted key and the values it takes, as TOML literals.
struct SweepAxis {
  std::string key;
  std::vector<std::string> values;
  std::vector<std::string> origins;  // "file:line:column" of each value, for messages
  // Where the values were written is not part of what the sweep is.
  bool operator==(const SweepAxis& other) const { return key == other.key && values == other.values; }
};

// Set when this experiment is one run of a sweep.
struct SweepRunInfo {
  int64_t index = -1;  // -1: not a sweep run
  int64_t count = 0;
  std::string suffix;  // appended to output_dir
  std::vector<std::pair<std::string, std::string>> assignments;  // (key, TOML literal)
  bool operator==(const SweepRunInfo&) const = default;
};

struct Experiment {
  ExperimentSection experiment;
  ModelSection model;
  std::vector<CalibrationSet> calibration;
  AnalysisSection analysis;
  AllocationSection allocation;
  QuantizationSection quantization;
  std::vector<EvaluationSet> evaluation;
  RuntimeSection runtime;
  std::vector<SweepAxis> sweep;  // empty for a single run and for an expanded sweep run
  SweepRunInfo run;
  std::filesystem::path config_file;  // absolute path of the TOML it came from (not part of the TOML)

  bool has_stage(Stage stage) const;
  bool operator==(const Experiment&) const = default;
};

}  // namespace moqa::config
