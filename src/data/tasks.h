#pragma once
// Zero-shot multiple-choice tasks read from JSON Lines files as Hugging Face `datasets` exports them
// (dataset.to_json(...), one record per line, also .xz), turned into lm-evaluation-harness's requests:
// a prompt (doc_to_text), the choices (doc_to_choice), the gold index (doc_to_target) and the target
// delimiter put between prompt and choice. Each choice is scored as the continuation
// target_delimiter + choice of the prompt (eval/zero_shot.h).
//
// docs/EVALUATION.md gives every format's fields and exact template. In short (lm-eval 0.4 task YAMLs):
//   arc_challenge, arc_easy  "Question: {question}\nAnswer:", choices.text, gold = answerKey's index in
//                            choices.label
//   piqa                     "Question: {goal}\nAnswer:", [sol1, sol2], gold = label
//   copa                     premise without its last character + " because" / " therefore" (question
//                            cause / effect); choices " " + choice with a lower-cased first letter
//   rte                      "{sentence1}\nQuestion: {sentence2} True or False?\nAnswer:" (glue; super_glue:
//                            premise / hypothesis), ["True", "False"], label 0 (entailment) = True
//   cb                       "{premise}\nQuestion: {hypothesis}. True, False, or Neither?\nAnswer:",
//                            ["True", "False", "Neither"], label 0 entailment, 1 contradiction, 2 neutral
//   multiple_choice          moqa's generic format: {"context": str, "choices": [str, ...], "gold": int,
//                            optional "target_delimiter": str (default " ")}
// Every problem in a file is a moqa::Error naming file:line, the field, what was found and what was expected.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace moqa::data {

enum class TaskFormat { arc_challenge, arc_easy, piqa, copa, rte, cb, multiple_choice };

// The names used in experiment TOMLs ([[evaluation]] task = "...") and results.
std::string_view task_format_name(TaskFormat format);
std::optional<TaskFormat> parse_task_format(std::string_view name);

struct ChoiceExample {
  std::string context;                 // the prompt, scored as the condition
  std::vector<std::string> choices;    // at least two, none empty
  int64_t gold = 0;                    // index into choices
  std::string target_delimiter = " ";  // between context and each choice
  int64_t line = 0;                    // 1-based line of the record in its file
};

struct ChoiceTask {
  TaskFormat format = TaskFormat::multiple_choice;
  std::filesystem::path source;
  std::vector<ChoiceExample> examples;  // in file order
  // Whether lm-eval's task lists acc_norm among its metrics (ARC, PIQA; not RTE, COPA, CB). moqa
  // computes both for every task; this only says which one is comparable with published tables.
  bool lm_eval_reports_acc_norm = false;
};

// The first `limit` examples (0: all) of the file, as lm-eval's --limit takes the first documents.
// Lines after the limit are not read for errors.
ChoiceTask load_task(const std::filesystem::path& path, TaskFormat format, int64_t limit = 0);

// Python's len(): Unicode code points of valid UTF-8 (acc_norm divides by it, as lm-eval does).
int64_t count_code_points(std::string_view utf8);

// Python's str.isspace() for ASCII (space, \t, \n, \r, \v, \f): what the templates' strip() and lm-eval's
// context.rstrip() remove in practice. Other Unicode white space is kept.
bool is_ascii_space(char c);

}  // namespace moqa::data
