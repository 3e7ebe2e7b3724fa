#pragma once
// Zero-shot multiple-choice accuracy with lm-evaluation-harness's conventions (docs/EVALUATION.md):
// every choice of an example is scored as the log-likelihood of the continuation
// target_delimiter + choice given the example's context; acc takes the argmax of the log-likelihoods,
// acc_norm the argmax of log-likelihood / (the choice's length in characters), first index on ties.
//
// Tokenization (lm-eval's _encode_pair): trailing whitespace of the context moves to the front of the
// continuation; whole = encode(context + continuation), context tokens = encode(context), continuation
// tokens = whole minus the first |context tokens| tokens. Both encodings follow the BOS policy
// (data/bos_policy.h; default: the tokenizer's own post-processor, e.g. Llama's BOS, as lm-eval >= 0.4.9.2
// and moqa's perplexity do; docs/EVALUATION.md says what each lm-eval version does). An empty context is
// conditioned on a single prefix token (default: the tokenizer's BOS, else EOS).
// Sequences longer than max_length + 1 tokens are left-truncated: the model sees the last max_length
// tokens before the final one, and the continuation (at most max_length tokens) is always scored whole.
//
// Batching: requests are sorted by length (longest first) and cut into batches of batch_sequences; shorter
// sequences are padded at the END, which a causal decoder never attends to and a per-token router never
// mixes into other tokens, so only the rows that predict continuation tokens are read.
//
// Distributed (data parallel over examples, experts through the caller's executor):
//   const data::ShardRange share = data::shard_range(task.examples.size(), rank, world);
//   ZeroShotPlan plan = plan_zero_shot(tokenizer, task, share, options, model.config().max_position_embeddings);
//   options.min_batches = <MPI_MAX over ranks of plan.batches.size()>;   // same number of forwards everywhere
//   auto scores = score_zero_shot(model, plan, options, {.experts = &alltoall_executor});
//   ZeroShotCounts counts = tally(scores, task.f1_classes);  // then MPI_SUM every field over ranks
// Every rank then runs exactly min_batches forward passes (padding with empty batches), as the collective
// executor requires. Counts, not rates, are reduced (the F1's confusion matrix too), so the result does not
// depend on the rank count.
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/progress.h"
#include "data/bos_policy.h"
#include "data/shard.h"
#include "data/tasks.h"
#include "eval/scored_batches.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace moqa::eval {

struct ZeroShotOptions {
  int64_t max_length = 0;               // tokens the model sees at most; 0: the model's max_position_embeddings
  int64_t batch_sequences = 4;          // (context, continuation) sequences per forward pass
  data::BosPolicy bos = data::BosPolicy::tokenizer;  // [[evaluation]] add_bos, see above
  std::optional<int32_t> prefix_token;  // conditions an empty context; default tokenizer BOS, else EOS
  bool greedy = false;                  // also check whether each continuation is the greedy decode (costs logits)
  int64_t min_batches = 0;              // pad with empty forward passes up to this many (collective executors)
  model::HiddenSpill hidden_spill;      // stream_weights only: where the layer-major pass holds hidden states
};

// ---- Tokenization ------------------------------------------------------------------------------------
struct EncodedPair {
  std::vector<int32_t> context;
  std::vector<int32_t> continuation;
};

// lm-eval's pair encoding (see above). moqa::Error when the continuation encodes to no tokens, or the
// context is empty and there is no prefix token.
EncodedPair encode_pair(const Tokenizer& tokenizer, std::string_view context, std::string_view continuation,
                        data::BosPolicy bos, std::optional<int32_t> prefix_token);

// ---- Scores ------------------------------------------------------------------------------------------
struct ChoiceScore {
  double loglik = 0.0;       // sum of log p(continuation token | everything before it)
  int64_t tokens = 0;        // continuation tokens
  bool greedy = false;       // every continuation token is the argmax (only with options.greedy)
  int64_t input_tokens = 0;  // tokens the model saw for it
  bool truncated = false;    // left-truncated to max_length
};

struct ExampleScore {
  int64_t example = 0;  // index in task.examples
  int64_t gold = 0;
  std::vector<ChoiceScore> choices;
  std::vector<int64_t> choice_chars;  // len(choice) in code points, acc_norm's divisor

  int64_t predicted() const;       // argmax loglik
  int64_t predicted_norm() const;  // argmax loglik / chars
};

// What data-parallel ranks add up.
struct ZeroShotCounts {
  int64_t examples = 0;
  int64_t correct = 0;       // acc numerator
  int64_t correct_norm = 0;  // acc_norm numerator
  int64_t gold_greedy = 0;   // gold continuation is the greedy decode (lm-eval's exact_match; needs greedy)
  int64_t requests = 0;      // (example, choice) sequences scored
  int64_t truncated = 0;     // of which were left-truncated to max_length
  int64_t input_tokens = 0;  // tokens fed to the model, padding excluded
  // Tasks with fixed classes (data::ChoiceTask::f1_classes = k > 0, e.g. cb): k x k counts of examples,
  // [gold * k + predicted] with acc's prediction; empty otherwise. Its size is the same on every rank.
  std::vector<int64_t> confusion;

  ZeroShotCounts& operator+=(const ZeroShotCounts& other);
};

// f1_classes: data::ChoiceTask::f1_classes (0: no confusion matrix).
ZeroShotCounts tally(std::span<const ExampleScore> scores, int64_t f1_classes = 0);

// lm-eval's CB F1 (super_glue/cb/aggregate.py cb_multi_fi): the mean over the k classes of each class's
// one-vs-rest F1 = 2 TP / (2 TP + FP + FN) from a k x k confusion matrix [gold * k + predicted]; a class with
// no gold and no predicted example counts 0 (scikit-learn's f1_score with its default zero_division). NaN
// for an empty matrix.
double macro_f1(std::span<const int64_t> confusion);
// k for a k x k confusion matrix; moqa::Error when its size is not a square.
int64_t confusion_classes(std::span<const int64_t> confusion);

// A fraction of `count` binary outcomes and its standard error as lm-eval reports it: the sample standard
// deviation (n - 1) over sqrt(n), i.e. sqrt(p (1 - p) / (n - 1)); NaN for fewer than 2 examples.
double binary_stderr(int64_t successes, int64_t count);

struct ZeroShotResult {
  std::string task;  // data::task_format_name
  ZeroShotCounts counts;
  std::vector<ExampleScore> scores;  // this process's examples, in example order
  double seconds = 0.0;
  bool greedy = false;  // counts.gold_greedy is meaningful

  double acc() const;
  double acc_norm() const;
  double acc_stderr() const;
  double acc_norm_stderr() const;
  double f1() const;  // macro_f1(counts.confusion); NaN without a confusion matrix
};

// ---- Evaluation --------------------------------------------------------------------------------------
// The forward batches for examples [share.begin, share.end) of `task`, and where each request's targets sit.
struct ZeroShotPlan {
  struct Request {
    int64_t example = 0;  // index in task.examples
    int64_t choice = 0;
    size_t batch = 0;         // which batch
    size_t first_target = 0;  // its targets are batches[batch].targets[first_target, first_target + tokens)
    int64_t tokens = 0;
    int64_t input_tokens = 0;
    bool truncated = false;
  };
  std::vector<ScoredBatch> batches;
  std::vector<Request> requests;       // in (example, choice) order
  std::vector<ExampleScore> examples;  // gold and choice lengths filled in, scores empty
  int64_t max_length = 0;
};

// model_max_length: used when options.max_length is 0. Errors name the task file and line.
ZeroShotPlan plan_zero_shot(const Tokenizer& tokenizer, const data::ChoiceTask& task, data::ShardRange share,
                            const ZeroShotOptions& options, int64_t model_max_length);

// Runs max(plan.batches.size(), options.min_batches) forward passes. `progress` (may be null) advances
// by the requests of each batch.
std::vector<ExampleScore> score_zero_shot(model::Model& model, const ZeroShotPlan& plan, const ZeroShotOptions& options,
                                          const model::LayerContext& context = {}, Progress* progress = nullptr);

// The whole task on this process (plan, score, tally); progress lines go to `log` (null: silent).
ZeroShotResult evaluate_zero_shot(model::Model& model, const Tokenizer& tokenizer, const data::ChoiceTask& task,
                                  const ZeroShotOptions& options, std::ostream* log = nullptr,
                                  const model::LayerContext& context = {});

// "arc_easy: acc 0.4512 ± 0.0102, acc_norm 0.4231 ± 0.0101 (2376 examples, 9501 requests, 12.3 s)"; with a
// confusion matrix ", f1 0.4123" after acc_norm.
std::string describe(const ZeroShotResult& result);

}  // namespace moqa::eval
