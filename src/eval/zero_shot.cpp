#include "eval/zero_shot.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "data/corpus.h"

namespace moqa::eval {
namespace {

std::optional<int32_t> default_prefix(const Tokenizer& tokenizer, const ZeroShotOptions& options) {
  if (options.prefix_token) return options.prefix_token;
  if (const auto bos = tokenizer.bos_id()) return bos;
  return tokenizer.eos_id();
}

// First index of the largest value, as numpy's argmax.
template <class Value>
int64_t first_argmax(size_t count, Value value) {
  int64_t best = 0;
  for (size_t i = 1; i < count; ++i)
    if (value(i) > value(static_cast<size_t>(best))) best = static_cast<int64_t>(i);
  return best;
}

// Whether each target is the argmax of its row's logits (first index on ties), lm_head in chunks.
std::vector<bool> greedy_matches(model::Model& model, const backend::Array& normed, std::span<const int32_t> rows,
                                 std::span<const int32_t> targets) {
  std::vector<bool> matches;
  matches.reserve(rows.size());
  const size_t chunk = static_cast<size_t>(std::max<int64_t>(model.options().logits_chunk_rows, 1));
  for (size_t first = 0; first < rows.size(); first += chunk) {
    const size_t count = std::min(chunk, rows.size() - first);
    const Tensor logits =
        model.backend().download(model.logits(model.backend().gather_rows(normed, rows.subspan(first, count))));
    const size_t vocab = static_cast<size_t>(logits.dim(1));
    for (size_t r = 0; r < count; ++r) {
      const float* row = logits.data.data() + r * vocab;
      const int64_t best = first_argmax(vocab, [&](size_t v) { return row[v]; });
      matches.push_back(best == targets[first + r]);
    }
  }
  return matches;
}

// One (example, choice) sequence before batching.
struct Sequence {
  std::vector<int32_t> input;    // what the model sees
  std::vector<int32_t> targets;  // the continuation tokens, predicted by the last targets.size() inputs
  size_t request = 0;
};

}  // namespace

EncodedPair encode_pair(const Tokenizer& tokenizer, std::string_view context, std::string_view continuation,
                        data::BosPolicy bos, std::optional<int32_t> prefix_token) {
  size_t kept = context.size();
  while (kept > 0 && data::is_ascii_space(context[kept - 1])) --kept;
  std::string moved_continuation = cat(context.substr(kept), continuation);
  context = context.substr(0, kept);

  EncodedPair pair;
  if (context.empty()) {
    // lm-eval conditions an empty context on a prefix token; if the continuation already starts with it,
    // that token becomes the context.
    pair.continuation = tokenizer.encode(moved_continuation, false);
    MOQA_CHECK(prefix_token.has_value(), "zero-shot: the context is empty and the tokenizer (", tokenizer.source(),
               ") has no BOS or EOS token to condition on; set a prefix token");
    if (!pair.continuation.empty() && pair.continuation.front() == *prefix_token) {
      pair.context = {pair.continuation.front()};
      pair.continuation.erase(pair.continuation.begin());
    } else {
      pair.context = {*prefix_token};
    }
  } else {
    std::string whole_text(context);
    whole_text += moved_continuation;
    const std::vector<int32_t> whole = data::tokenize_text(tokenizer, whole_text, {.bos = bos});
    pair.context = data::tokenize_text(tokenizer, context, {.bos = bos});
    // As lm-eval, the continuation is whatever the whole encoding has beyond the context's token count,
    // even where the two encodings disagree at the boundary.
    if (whole.size() > pair.context.size()) pair.continuation.assign(whole.begin() + pair.context.size(), whole.end());
  }
  MOQA_CHECK(!pair.continuation.empty(), "zero-shot: the continuation \"", continuation, "\" encodes to no tokens");
  return pair;
}

int64_t ExampleScore::predicted() const {
  return first_argmax(choices.size(), [&](size_t i) { return choices[i].loglik; });
}

int64_t ExampleScore::predicted_norm() const {
  return first_argmax(choices.size(),
                      [&](size_t i) { return choices[i].loglik / static_cast<double>(choice_chars[i]); });
}

ZeroShotCounts& ZeroShotCounts::operator+=(const ZeroShotCounts& other) {
  examples += other.examples;
  correct += other.correct;
  correct_norm += other.correct_norm;
  gold_greedy += other.gold_greedy;
  requests += other.requests;
  truncated += other.truncated;
  input_tokens += other.input_tokens;
  MOQA_CHECK(confusion.size() == other.confusion.size(), "zero-shot: adding a ", other.confusion.size(),
             "-entry confusion matrix to a ", confusion.size(), "-entry one");
  for (size_t i = 0; i < confusion.size(); ++i) confusion[i] += other.confusion[i];
  return *this;
}

ZeroShotCounts tally(std::span<const ExampleScore> scores, int64_t f1_classes) {
  MOQA_CHECK(f1_classes >= 0, "zero-shot: f1_classes must be >= 0, got ", f1_classes);
  ZeroShotCounts counts;
  const size_t classes = static_cast<size_t>(f1_classes);
  counts.confusion.assign(classes * classes, 0);
  for (const ExampleScore& s : scores) {
    MOQA_CHECK(!s.choices.empty() && s.choices.size() == s.choice_chars.size() && s.gold >= 0 &&
                   s.gold < static_cast<int64_t>(s.choices.size()),
               "zero-shot: example ", s.example, " has inconsistent scores (", s.choices.size(), " choices, ",
               s.choice_chars.size(), " lengths, gold ", s.gold, ")");
    ++counts.examples;
    if (classes > 0) {
      MOQA_CHECK(s.choices.size() == classes, "zero-shot: example ", s.example, " has ", s.choices.size(),
                 " choices, expected the task's ", classes, " classes");
      ++counts.confusion[static_cast<size_t>(s.gold) * classes + static_cast<size_t>(s.predicted())];
    }
    counts.correct += s.predicted() == s.gold;
    counts.correct_norm += s.predicted_norm() == s.gold;
    counts.gold_greedy += s.choices[static_cast<size_t>(s.gold)].greedy;
    counts.requests += static_cast<int64_t>(s.choices.size());
    for (const ChoiceScore& c : s.choices) {
      counts.truncated += c.truncated;
      counts.input_tokens += c.input_tokens;
    }
  }
  return counts;
}

double binary_stderr(int64_t successes, int64_t count) {
  if (count < 2) return NAN;
  const double p = static_cast<double>(successes) / static_cast<double>(count);
  return std::sqrt(p * (1.0 - p) / static_cast<double>(count - 1));
}

double ZeroShotResult::acc() const {
  return counts.examples > 0 ? static_cast<double>(counts.correct) / static_cast<double>(counts.examples) : NAN;
}
double ZeroShotResult::acc_norm() const {
  return counts.examples > 0 ? static_cast<double>(counts.correct_norm) / static_cast<double>(counts.examples) : NAN;
}
int64_t confusion_classes(std::span<const int64_t> confusion) {
  size_t classes = 0;
  while (classes * classes < confusion.size()) ++classes;
  MOQA_CHECK(classes * classes == confusion.size(), "zero-shot: a confusion matrix of ", confusion.size(),
             " entries is not square");
  return static_cast<int64_t>(classes);
}

double macro_f1(std::span<const int64_t> confusion) {
  const size_t classes = static_cast<size_t>(confusion_classes(confusion));
  if (classes == 0) return NAN;
  double sum = 0.0;
  for (size_t c = 0; c < classes; ++c) {
    int64_t gold = 0, predicted = 0;  // row and column sums
    for (size_t o = 0; o < classes; ++o) {
      gold += confusion[c * classes + o];
      predicted += confusion[o * classes + c];
    }
    const int64_t true_positive = confusion[c * classes + c];
    // 2 TP / (2 TP + FP + FN) with FP + FN = gold + predicted - 2 TP.
    if (gold + predicted > 0) sum += 2.0 * static_cast<double>(true_positive) / static_cast<double>(gold + predicted);
  }
  return sum / static_cast<double>(classes);
}

double ZeroShotResult::f1() const { return macro_f1(counts.confusion); }
double ZeroShotResult::acc_stderr() const { return binary_stderr(counts.correct, counts.examples); }
double ZeroShotResult::acc_norm_stderr() const { return binary_stderr(counts.correct_norm, counts.examples); }

ZeroShotPlan plan_zero_shot(const Tokenizer& tokenizer, const data::ChoiceTask& task, data::ShardRange share,
                            const ZeroShotOptions& options, int64_t model_max_length) {
  MOQA_CHECK(options.batch_sequences >= 1, "zero-shot: batch_sequences must be >= 1, got ", options.batch_sequences);
  MOQA_CHECK(share.begin >= 0 && share.begin <= share.end && share.end <= static_cast<int64_t>(task.examples.size()),
             "zero-shot: examples [", share.begin, ", ", share.end, ") outside the task's ", task.examples.size());
  ZeroShotPlan plan;
  plan.max_length = options.max_length > 0 ? options.max_length : model_max_length;
  MOQA_CHECK(plan.max_length >= 1, "zero-shot: no maximum length (options.max_length ", options.max_length,
             ", model max_position_embeddings ", model_max_length, ")");
  const size_t max_length = static_cast<size_t>(plan.max_length);
  const std::optional<int32_t> prefix = default_prefix(tokenizer, options);

  std::vector<Sequence> sequences;
  for (int64_t index = share.begin; index < share.end; ++index) {
    const data::ChoiceExample& example = task.examples[static_cast<size_t>(index)];
    ExampleScore& score = plan.examples.emplace_back();
    score.example = index;
    score.gold = example.gold;
    for (size_t c = 0; c < example.choices.size(); ++c) {
      const std::string& choice = example.choices[c];
      score.choice_chars.push_back(data::count_code_points(choice));
      EncodedPair pair;
      try {
        pair = encode_pair(tokenizer, example.context, cat(example.target_delimiter, choice),
                           options.bos, prefix);
      } catch (const Error& e) {
        fail(task.source.string(), ":", example.line, ": choice ", c, ": ", e.what());
      }
      MOQA_CHECK(pair.continuation.size() <= max_length, task.source.string(), ":", example.line, ": choice ", c,
                 " is ", pair.continuation.size(), " tokens, more than the maximum length of ", max_length);
      // lm-eval: input = (context + continuation)[-(max_length + 1):][:-1].
      Sequence& s = sequences.emplace_back();
      s.request = plan.requests.size();
      std::vector<int32_t> whole = std::move(pair.context);
      whole.insert(whole.end(), pair.continuation.begin(), pair.continuation.end());
      const size_t keep = std::min(whole.size(), max_length + 1);
      s.input.assign(whole.end() - static_cast<std::ptrdiff_t>(keep), whole.end() - 1);
      s.targets = std::move(pair.continuation);
      plan.requests.push_back({.example = index,
                               .choice = static_cast<int64_t>(c),
                               .tokens = static_cast<int64_t>(s.targets.size()),
                               .input_tokens = static_cast<int64_t>(s.input.size()),
                               .truncated = keep < whole.size()});
    }
  }

  // Longest first, so a batch's padding is small; ties keep request order (deterministic).
  std::stable_sort(sequences.begin(), sequences.end(),
                   [](const Sequence& a, const Sequence& b) { return a.input.size() > b.input.size(); });
  const size_t per_batch = static_cast<size_t>(options.batch_sequences);
  for (size_t first = 0; first < sequences.size(); first += per_batch) {
    const size_t last = std::min(first + per_batch, sequences.size());
    ScoredBatch& batch = plan.batches.emplace_back();
    batch.tokens.windows = static_cast<int64_t>(last - first);
    batch.tokens.seq_len = static_cast<int64_t>(sequences[first].input.size());
    batch.tokens.ids.assign(static_cast<size_t>(batch.tokens.windows * batch.tokens.seq_len), 0);
    for (size_t s = first; s < last; ++s) {
      const Sequence& seq = sequences[s];
      const size_t row0 = (s - first) * static_cast<size_t>(batch.tokens.seq_len);
      std::copy(seq.input.begin(), seq.input.end(), batch.tokens.ids.begin() + static_cast<std::ptrdiff_t>(row0));
      ZeroShotPlan::Request& request = plan.requests[seq.request];
      request.batch = plan.batches.size() - 1;
      request.first_target = batch.targets.size();
      const size_t first_row = row0 + seq.input.size() - seq.targets.size();
      for (size_t t = 0; t < seq.targets.size(); ++t) {
        batch.rows.push_back(static_cast<int32_t>(first_row + t));
        batch.targets.push_back(seq.targets[t]);
      }
    }
  }
  return plan;
}

std::vector<ExampleScore> score_zero_shot(model::Model& model, const ZeroShotPlan& plan, const ZeroShotOptions& options,
                                          const model::LayerContext& context, Progress* progress) {
  std::vector<ExampleScore> scores = plan.examples;
  for (ExampleScore& s : scores) s.choices.resize(s.choice_chars.size());
  const int64_t first_example = scores.empty() ? 0 : scores.front().example;

  // Requests of each batch, to route its NLLs back.
  std::vector<std::vector<size_t>> by_batch(plan.batches.size());
  for (size_t r = 0; r < plan.requests.size(); ++r) by_batch[plan.requests[r].batch].push_back(r);

  score_batches(
      model, plan.batches, options.min_batches, options.hidden_spill, context,
      [&](size_t b, const backend::Array& normed, std::span<const float> nll) {
        const ScoredBatch& batch = plan.batches[b];
        std::vector<bool> greedy;
        if (options.greedy) greedy = greedy_matches(model, normed, batch.rows, batch.targets);
        for (const size_t r : by_batch[b]) {
          const ZeroShotPlan::Request& request = plan.requests[r];
          ChoiceScore& score =
              scores[static_cast<size_t>(request.example - first_example)].choices[static_cast<size_t>(request.choice)];
          score.tokens = request.tokens;
          score.input_tokens = request.input_tokens;
          score.truncated = request.truncated;
          score.greedy = options.greedy;
          for (size_t t = request.first_target; t < request.first_target + static_cast<size_t>(request.tokens); ++t) {
            score.loglik -= nll[t];
            if (options.greedy) score.greedy = score.greedy && greedy[t];
          }
        }
        if (progress) progress->advance(batch.tokens.windows, static_cast<int64_t>(batch.tokens.ids.size()));
      });
  return scores;
}

ZeroShotResult evaluate_zero_shot(model::Model& model, const Tokenizer& tokenizer, const data::ChoiceTask& task,
                                  const ZeroShotOptions& options, std::ostream* log,
                                  const model::LayerContext& context) {
  ZeroShotResult result;
  result.task = std::string(data::task_format_name(task.format));
  result.greedy = options.greedy;
  const ZeroShotPlan plan = plan_zero_shot(tokenizer, task, {0, static_cast<int64_t>(task.examples.size())}, options,
                                           model.config().max_position_embeddings);
  Progress progress(cat("zero-shot ", result.task), static_cast<int64_t>(plan.requests.size()), "requests", log);
  const auto start = std::chrono::steady_clock::now();
  result.scores = score_zero_shot(model, plan, options, context, &progress);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  progress.finish();
  result.counts = tally(result.scores, task.f1_classes);
  return result;
}

std::string describe(const ZeroShotResult& result) {
  char line[320];
  std::snprintf(line, sizeof line, "%s: acc %.4f ± %.4f, acc_norm %.4f ± %.4f", result.task.c_str(), result.acc(),
                result.acc_stderr(), result.acc_norm(), result.acc_norm_stderr());
  std::string text = line;
  if (!result.counts.confusion.empty()) {
    std::snprintf(line, sizeof line, ", f1 %.4f", result.f1());
    text += line;
  }
  text += cat(" (", result.counts.examples, " examples, ", result.counts.requests, " requests");
  if (result.counts.truncated > 0) text += cat(", ", result.counts.truncated, " left-truncated");
  std::snprintf(line, sizeof line, ", %.1f s)", result.seconds);
  return text + line;
}

}  // namespace moqa::eval
