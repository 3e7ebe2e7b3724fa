#include "pipeline/evaluate/stage_evaluate.h"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/progress.h"
#include "core/units.h"
#include "data/corpus.h"
#include "data/perplexity_stream.h"
#include "data/shard.h"
#include "data/tasks.h"
#include "data/windows.h"
#include "eval/perplexity.h"
#include "eval/zero_shot.h"
#include "io/hf_config.h"
#include "pipeline/allocate/novel_profile.h"
#include "pipeline/channel_adjustment.h"
#include "pipeline/driver.h"
#include "pipeline/metrics.h"
#include "pipeline/rank_model.h"
#include "tokenizer/tokenizer.h"

namespace moqa::pipeline {
namespace {

using Clock = std::chrono::steady_clock;

// One [[evaluation]] set ready to be scored by any model: the data is identical on every rank, the share
// is this rank's part of it. Prepared once and reused for the baseline and the quantized model.
struct PreparedSet {
  size_t index = 0;  // into Experiment::evaluation
  const config::EvaluationSet* set = nullptr;
  data::ShardRange share;  // this rank's windows (perplexity) or examples (zero_shot)
  // perplexity
  std::vector<int32_t> tokens;
  std::vector<data::EvalWindow> windows;  // all ranks' windows, in stream order
  int64_t documents = 0;                  // data::PerplexityStream's provenance, for the results
  int64_t windows_wanted = 0;
  std::string shortfall;                  // what the stream lacks of its protocol ("" = nothing)
  // zero_shot
  std::optional<data::ChoiceTask> task;
  std::optional<eval::ZeroShotPlan> plan;  // this rank's share, tokenized and batched
  eval::ZeroShotOptions options;
};

eval::PerplexityOptions perplexity_options(const config::Experiment& e, const config::EvaluationSet& set) {
  return {.seq_len = set.seq_len,
          .stride = set.stride,
          .batch_windows = e.runtime.batch_windows,
          .keep_partial_last = set.keep_partial_last};
}

eval::ZeroShotOptions zero_shot_options(const config::Experiment& e, const config::EvaluationSet& set,
                                        const Tokenizer& tokenizer, const ModelConfig& model_config) {
  // seq_len bounds what the model sees, as lm-eval's max_length does.
  eval::ZeroShotOptions options{
      .max_length = set.seq_len, .batch_sequences = e.runtime.batch_windows, .bos = set.add_bos};
  // An empty context is conditioned on the tokenizer's BOS (else EOS); byte-level tokens have neither,
  // so the model's own config.json ids stand in.
  if (!tokenizer.bos_id() && !tokenizer.eos_id()) {
    const std::optional<int64_t> id = model_config.bos_token_id ? model_config.bos_token_id : model_config.eos_token_id;
    if (id) options.prefix_token = static_cast<int32_t>(*id);
  }
  return options;
}

data::TaskFormat task_format(const config::EvaluationSet& set) {
  MOQA_CHECK(set.task.has_value(), "evaluation \"", set.name, "\": kind = \"zero_shot\" without a task");
  return *set.task;
}

// Every rank reads and tokenizes the data itself: the model's weights already require every rank to see
// the same files, and doing the same deterministic work in parallel costs no wall time.
PreparedSet prepare_set(const config::Experiment& e, size_t index, const Tokenizer& tokenizer,
                        const ModelConfig& model_config, const dist::MpiSession& session) {
  PreparedSet p;
  p.index = index;
  p.set = &e.evaluation[index];
  const config::EvaluationSet& set = *p.set;
  if (set.kind == config::EvalKind::perplexity) {
    // With profile = "leading_slice" the windows start after the tokens a novel set is profiled on, for
    // every model, whether or not this run profiles it (pipeline/allocate/novel_profile.h).
    const data::CorpusSource source = evaluation_source(set, set.path);
    const data::PerplexityStreamOptions options = scored_stream_options(set);
    data::PerplexityStream stream = data::load_perplexity_stream(tokenizer, source, set.protocol, options);
    p.shortfall = data::protocol_shortfall(stream, options);
    p.documents = stream.documents;
    p.windows_wanted = stream.windows_wanted;
    p.tokens = std::move(stream.tokens);
    p.windows = std::move(stream.windows);
    MOQA_CHECK(!p.windows.empty(), "evaluation \"", set.name, "\": ", set.path.string(), " gives ", p.tokens.size(),
               " tokens, fewer than one window of seq_len = ", set.seq_len,
               set.first_scored_token() > 0 ? cat(" after the first profile_tokens = ", set.first_scored_token())
                                            : std::string(),
               set.keep_partial_last ? "" : " (set keep_partial_last = true to score a shorter window)");
    p.share = data::shard_range(static_cast<int64_t>(p.windows.size()), session.rank(), session.size());
  } else {
    p.task = data::load_task(set.path, task_format(set), set.limit, set.labels);
    p.share = data::shard_range(static_cast<int64_t>(p.task->examples.size()), session.rank(), session.size());
    p.options = zero_shot_options(e, set, tokenizer, model_config);
    p.plan = eval::plan_zero_shot(tokenizer, *p.task, p.share, p.options, model_config.max_position_embeddings);
  }
  return p;
}

int64_t max_over_ranks(int64_t value, MPI_Comm comm) {
  int64_t out = 0;
  dist::check_mpi(MPI_Allreduce(&value, &out, 1, MPI_INT64_T, MPI_MAX, comm), "MPI_Allreduce (forward passes)");
  return out;
}

eval::NllSum sum_over_ranks(const eval::NllSum& local, MPI_Comm comm) {
  eval::NllSum out;
  dist::check_mpi(MPI_Allreduce(&local.nll, &out.nll, 1, MPI_DOUBLE, MPI_SUM, comm), "MPI_Allreduce (NLL)");
  const int64_t counts[2] = {local.targets, local.input_tokens};
  int64_t sums[2] = {};
  dist::check_mpi(MPI_Allreduce(counts, sums, 2, MPI_INT64_T, MPI_SUM, comm), "MPI_Allreduce (token counts)");
  out.targets = sums[0];
  out.input_tokens = sums[1];
  return out;
}

// Counts, not rates (every rank's confusion matrix has the task's size, also with no examples).
eval::ZeroShotCounts sum_over_ranks(const eval::ZeroShotCounts& local, MPI_Comm comm) {
  std::vector<int64_t> counts{local.examples, local.correct,   local.correct_norm, local.gold_greedy,
                              local.requests, local.truncated, local.input_tokens};
  counts.insert(counts.end(), local.confusion.begin(), local.confusion.end());
  std::vector<int64_t> s(counts.size());
  dist::check_mpi(MPI_Allreduce(counts.data(), s.data(), static_cast<int>(counts.size()), MPI_INT64_T, MPI_SUM, comm),
                  "MPI_Allreduce (zero-shot counts)");
  return {.examples = s[0], .correct = s[1], .correct_norm = s[2], .gold_greedy = s[3], .requests = s[4],
          .truncated = s[5], .input_tokens = s[6], .confusion = std::vector<int64_t>(s.begin() + 7, s.end())};
}

std::string ranks_text(int ranks) { return cat(ranks, ranks == 1 ? " rank" : " ranks"); }

// All ranks' windows (or examples) per rank 0's, which progress reports (core/progress.h: tokens/s means all
// ranks'); the ranks run the same number of batches, so rank 0's rate scales to the whole stage's.
double share_scale(size_t all, const data::ShardRange& share) {
  return share.size() > 0 ? static_cast<double>(all) / static_cast<double>(share.size()) : 1.0;
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Under stream_weights a set's windows pass layer-major and their hidden states are held as calibration's
// are: runtime.hidden_state_memory_mib in memory per rank, the rest in a scratch file in output_dir that
// disappears when the process ends (model/hidden_store.h). Without streaming one batch is held at a time.
model::HiddenSpill evaluation_spill(const config::Experiment& e, int rank) {
  return {.memory_budget_bytes = e.runtime.hidden_state_memory_mib << 20,
          .scratch_path = model::hidden_scratch_path(e.experiment.output_dir, "evaluate", rank)};
}

// Says, on rank 0, when a layer-major pass over `tokens` of this rank's tokens will spill under `spill`.
void log_spill(std::ostream* log, const std::string& stage, const config::Experiment& e, const model::HiddenSpill& spill,
               int64_t tokens, int64_t hidden_size) {
  const int64_t bytes = tokens * hidden_size * static_cast<int64_t>(sizeof(float));
  if (log == nullptr || !e.runtime.stream_weights || bytes <= spill.memory_budget_bytes) return;
  *log << stage << ": hidden states of rank 0's share: " << format_bytes(bytes) << ", of which about "
       << format_bytes(bytes - spill.memory_budget_bytes) << " in a scratch file in "
       << spill.scratch_path.parent_path().string() << " (runtime.hidden_state_memory_mib = "
       << e.runtime.hidden_state_memory_mib << ")\n";
}

// Scores one prepared set on one model: this rank's share, the same number of forward passes on every
// rank, sums reduced over ranks. Progress (rank 0's share, with tokens/s and ETA) goes to `log`.
DatasetEvaluation evaluate_set(RankModel& ranked, const PreparedSet& p, EvaluatedModel which,
                               const RunContext& context, std::ostream* log) {
  const config::Experiment& e = context.experiment;
  const MPI_Comm comm = context.session.world();
  const config::EvaluationSet& set = *p.set;
  const double interval = progress_interval_s(e.runtime);
  const std::string stage = cat("evaluate ", model_key(which), "/", set.name);
  const model::LayerContext layer{.experts = ranked.experts.get()};
  DatasetEvaluation out{.model = which, .set = p.index};
  const Clock::time_point start = Clock::now();
  if (set.kind == config::EvalKind::perplexity) {
    eval::PerplexityOptions options = perplexity_options(e, set);
    const std::span<const data::EvalWindow> mine(p.windows.data() + p.share.begin, static_cast<size_t>(p.share.size()));
    options.min_batches = max_over_ranks(eval::window_batches(mine, options.batch_windows), comm);
    options.hidden_spill = evaluation_spill(e, context.session.rank());
    if (log)
      *log << stage << ": " << p.windows.size() << " windows of " << set.seq_len << " tokens over "
           << ranks_text(context.session.size()) << "; progress counts rank 0's " << p.share.size()
           << ", tokens/s all ranks' (rank 0's scaled)\n";
    int64_t tokens = 0;
    for (const data::EvalWindow& w : mine) tokens += w.length;
    log_spill(log, stage, e, options.hidden_spill, tokens, ranked.model->config().hidden_size);
    Progress progress(stage, p.share.size(), "windows", log, interval, share_scale(p.windows.size(), p.share));
    const eval::NllSum local = eval::score_windows(*ranked.model, p.tokens, mine, options, layer, &progress);
    progress.finish();
    eval::PerplexityResult& r = out.perplexity.emplace();
    r.stream_tokens = static_cast<int64_t>(p.tokens.size());
    r.windows = static_cast<int64_t>(p.windows.size());
    out.documents = p.documents;
    out.windows_wanted = p.windows_wanted;
    out.shortfall = p.shortfall;
    r.sum = sum_over_ranks(local, comm);
    r.seconds = seconds_since(start);
    if (log)
      *log << stage << " (" << config::name_of(set.distribution) << "): " << eval::describe(r, options) << ", protocol "
           << config::name_of(set.protocol) << "\n";
  } else {
    eval::ZeroShotOptions options = p.options;
    options.min_batches = max_over_ranks(static_cast<int64_t>(p.plan->batches.size()), comm);
    options.hidden_spill = evaluation_spill(e, context.session.rank());
    if (log)
      *log << stage << ": " << p.task->examples.size() << " examples over "
           << ranks_text(context.session.size()) << "; progress counts rank 0's " << p.plan->requests.size()
           << " (example, choice) requests, tokens/s all ranks' (rank 0's scaled)\n";
    int64_t tokens = 0;
    for (const eval::ScoredBatch& b : p.plan->batches) tokens += b.tokens.windows * b.tokens.seq_len;
    log_spill(log, stage, e, options.hidden_spill, tokens, ranked.model->config().hidden_size);
    Progress progress(stage, static_cast<int64_t>(p.plan->requests.size()), "requests", log, interval,
                      share_scale(p.task->examples.size(), p.share));
    const std::vector<eval::ExampleScore> scores =
        eval::score_zero_shot(*ranked.model, *p.plan, options, layer, &progress);
    progress.finish();
    eval::ZeroShotResult& r = out.zero_shot.emplace();
    r.task = std::string(data::task_format_name(p.task->format));
    r.counts = sum_over_ranks(eval::tally(scores, p.task->f1_classes), comm);
    r.seconds = seconds_since(start);
    if (log) *log << stage << " (" << config::name_of(set.distribution) << "): " << eval::describe(r) << "\n";
  }
  return out;
}

void mark_adjusted(DatasetEvaluation& d, const config::EvaluationSet& set,
                   const std::optional<ChannelAdjustmentPlan>& plan) {
  d.channel_adjusted = true;
  if (!plan) return;
  for (const NovelAllocation& novel : plan->novel) {
    if (novel.name != set.name) continue;
    d.adjusted_bits_experts = novel.stored_expert_mean_bits;
    d.adjusted_bits_all_linear = novel.stored_all_linear_mean_bits;
  }
}

void write_model_group(io::H5Writer& w, EvaluatedModel which, const ModelLabel& label, const std::string& weights) {
  const std::string g = cat("/metrics/", model_key(which));
  w.create_group(g);
  w.set_attribute(g, "method", label.method);
  if (label.bits_experts) w.set_attribute(g, "bits_experts", *label.bits_experts);
  if (label.bits_all_linear) w.set_attribute(g, "bits_all_linear", *label.bits_all_linear);
  w.set_attribute(g, "weights", weights);
}

// add_bos as the TOML spells it.
const char* bos_policy_text(data::BosPolicy bos) {
  return bos == data::BosPolicy::tokenizer ? "tokenizer" : bos == data::BosPolicy::always ? "true" : "false";
}

void write_metrics(io::H5Writer& w, const DatasetEvaluation& d, const config::EvaluationSet& set) {
  const std::string g = cat("/metrics/", model_key(d.model), "/", set.name);
  w.create_group(g);
  w.set_attribute(g, "kind", config::name_of(set.kind));
  w.set_attribute(g, "distribution", config::name_of(set.distribution));
  w.set_attribute(g, "source", set.path.string());
  w.set_attribute(g, "seq_len", set.seq_len);
  w.set_attribute(g, "add_bos", bos_policy_text(set.add_bos));
  if (d.channel_adjusted) {
    w.set_attribute(g, "channel_adjusted", int64_t{1});
    if (d.adjusted_bits_experts) w.set_attribute(g, "adjusted_bits_experts", *d.adjusted_bits_experts);
    if (d.adjusted_bits_all_linear) w.set_attribute(g, "adjusted_bits_all_linear", *d.adjusted_bits_all_linear);
  }
  if (const auto& r = d.perplexity) {
    w.set_attribute(g, "protocol", config::name_of(set.protocol));
    if (d.documents > 0) w.set_attribute(g, "documents", d.documents);
    if (d.windows_wanted > 0) w.set_attribute(g, "windows_wanted", d.windows_wanted);
    if (!d.shortfall.empty()) w.set_attribute(g, "shortfall", d.shortfall);
    w.set_attribute(g, "stride", set.stride);
    w.set_attribute(g, "max_tokens", set.max_tokens);
    w.set_attribute(g, "first_scored_token", set.first_scored_token());
    w.set_attribute(g, "keep_partial_last", static_cast<int64_t>(set.keep_partial_last ? 1 : 0));
    w.write_scalar(g + "/ppl", r->perplexity());
    w.write_scalar(g + "/nll", r->mean_nll());
    w.write_scalar(g + "/nll_sum", r->sum.nll);
    w.write_scalar(g + "/tokens", r->sum.targets);
    w.write_scalar(g + "/windows", r->windows);
    w.write_scalar(g + "/stream_tokens", r->stream_tokens);
    w.write_scalar(g + "/input_tokens", r->sum.input_tokens);
    w.write_scalar(g + "/seconds", r->seconds);
    w.write_scalar(g + "/tokens_per_s", r->tokens_per_s());
  }
  if (const auto& r = d.zero_shot) {
    w.set_attribute(g, "task", r->task);
    w.set_attribute(g, "limit", set.limit);
    w.write_scalar(g + "/acc", r->acc());
    w.write_scalar(g + "/acc_norm", r->acc_norm());
    w.write_scalar(g + "/acc_stderr", r->acc_stderr());
    w.write_scalar(g + "/acc_norm_stderr", r->acc_norm_stderr());
    if (!r->counts.confusion.empty()) {  // cb: lm-eval's macro F1 and the counts it comes from
      const int64_t classes = eval::confusion_classes(r->counts.confusion);
      w.write_scalar(g + "/f1", r->f1());
      w.write(g + "/confusion", r->counts.confusion, {classes, classes});
    }
    w.write_scalar(g + "/count", r->counts.examples);
    w.write_scalar(g + "/correct", r->counts.correct);
    w.write_scalar(g + "/correct_norm", r->counts.correct_norm);
    w.write_scalar(g + "/requests", r->counts.requests);
    w.write_scalar(g + "/truncated", r->counts.truncated);
    w.write_scalar(g + "/input_tokens", r->counts.input_tokens);
    w.write_scalar(g + "/seconds", r->seconds);
  }
}

}  // namespace

void run_evaluate_stage(RunContext& context) {
  const config::Experiment& e = context.experiment;
  const dist::MpiSession& session = context.session;
  std::ostream* log = session.is_root() ? &context.log : nullptr;
  MOQA_CHECK(!e.evaluation.empty(), "stage evaluate: the experiment has no [[evaluation]] table");

  const ModelConfig model_config = load_hf_config(e.model.path / "config.json");
  const Tokenizer tokenizer = open_tokenizer(e);
  if (log)
    *log << "evaluate: reading and tokenizing " << e.evaluation.size()
         << (e.evaluation.size() == 1 ? " [[evaluation]] set\n" : " [[evaluation]] sets\n");
  std::vector<PreparedSet> sets;
  for (size_t i = 0; i < e.evaluation.size(); ++i) {
    sets.push_back(prepare_set(e, i, tokenizer, model_config, session));
    const PreparedSet& p = sets.back();
    if (log && !p.shortfall.empty())
      *log << "evaluate: \"" << p.set->name << "\" (protocol " << config::name_of(p.set->protocol)
           << "): " << p.shortfall << "\n";
  }

  const bool quantized = context.quantized_weights != nullptr;

  // One model per job: the baseline (sets with baseline = true, or all of them without a quantized
  // model), the quantized model, and with channel adjustment one adjusted quantized model per novel set.
  struct Job {
    EvaluatedModel which;
    std::shared_ptr<const model::WeightSource> weights;  // null: the checkpoint
    std::vector<const PreparedSet*> sets;
    bool adjusted = false;
  };
  std::vector<Job> jobs(2);
  jobs[0] = {EvaluatedModel::full_precision, nullptr, {}};
  jobs[1] = {EvaluatedModel::quantized, context.quantized_weights, {}};
  for (const PreparedSet& p : sets) {
    if (!quantized || p.set->baseline) jobs[0].sets.push_back(&p);
    if (!quantized) continue;
    const auto adjusted = context.novel_weights.find(p.set->name);
    if (adjusted == context.novel_weights.end())
      jobs[1].sets.push_back(&p);
    else
      jobs.push_back({EvaluatedModel::quantized, adjusted->second, {&p}, true});
  }

  context.evaluations.clear();
  for (const EvaluatedModel which : {EvaluatedModel::full_precision, EvaluatedModel::quantized}) {
    if (!context.results || (which == EvaluatedModel::quantized && !quantized)) continue;
    if (which == EvaluatedModel::full_precision && jobs[0].sets.empty()) continue;
    const std::string weights = which == EvaluatedModel::quantized
                                    ? context.quantized_weights->describe()
                                    : model::CheckpointWeights(e.model.path).describe();
    write_model_group(*context.results, which, label_model(which, e, context.allocation, context.channel_adjustment),
                      weights);
  }
  for (const Job& job : jobs) {
    if (job.sets.empty()) continue;
    RankModel ranked = open_rank_model(e, session, job.weights);
    if (log)
      *log << "evaluate " << model_key(job.which) << " ("
           << label_model(job.which, e, context.allocation, context.channel_adjustment).method
           << (job.adjusted ? cat(", channels adjusted to ", job.sets.front()->set->name) : std::string())
           << "): " << job.sets.size() << (job.sets.size() == 1 ? " set" : " sets") << " on "
           << ranks_text(session.size()) << ", " << ranked.backend->describe() << "\n";
    for (const PreparedSet* p : job.sets) {
      DatasetEvaluation d = evaluate_set(ranked, *p, job.which, context, log);
      if (job.adjusted) mark_adjusted(d, *p->set, context.channel_adjustment);
      if (context.results) write_metrics(*context.results, d, *p->set);
      context.evaluations.push_back(std::move(d));
    }
  }
  // Records in (model, TOML order), whichever model served them.
  std::stable_sort(context.evaluations.begin(), context.evaluations.end(),
                   [](const DatasetEvaluation& a, const DatasetEvaluation& b) {
                     return a.model != b.model ? a.model < b.model : a.set < b.set;
                   });
}

}  // namespace moqa::pipeline
