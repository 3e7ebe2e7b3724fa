#pragma once
// Zero-shot multiple-choice tasks read from JSON Lines files (also .xz), turned into lm-evaluation-harness's
// requests: a prompt (doc_to_text), the choices (doc_to_choice), the gold index (doc_to_target) and the
// target delimiter put between prompt and choice. Each choice is scored as the continuation
// target_delimiter + choice of the prompt (eval/zero_shot.h).
//
// Two shapes of each benchmark load, recognised per record: the original releases (AI2 ARC jsonl with a
// nested question object, PIQA's dev.jsonl with its labels in a separate file, SuperGLUE jsonl with string
// labels) and the Hugging Face `datasets` exports (dataset.to_json(...): flat fields, integer labels).
// docs/EVALUATION.md gives every format's fields and exact template. In short (lm-eval 0.4 task YAMLs):
//   arc_challenge, arc_easy  "Question: {question}\nAnswer:", choices' texts, gold = answerKey's index among
//                            the choices' labels (A-E, or 1-4 for some rows)
//   piqa                     "Question: {goal}\nAnswer:", [sol1, sol2], gold = label (record or labels file)
//   copa                     premise without its last character + " because" / " therefore" (question
//                            cause / effect); choices " " + choice with a lower-cased first letter
//   rte                      "{sentence1}\nQuestion: {sentence2} True or False?\nAnswer:" (glue; super_glue:
//                            premise / hypothesis), ["True", "False"], label 0 / "entailment" = True
//   cb                       "{premise}\nQuestion: {hypothesis}. True, False, or Neither?\nAnswer:",
//                            ["True", "False", "Neither"], label 0 entailment, 1 contradiction, 2 neutral
//   multiple_choice          moqa's generic format: {"context": str, "choices": [str, ...], "gold": int,
//                            optional "target_delimiter": str (default " ")}
// Every problem in a file is a moqa::Error naming file:line, the field, what was found and what was expected.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "data/task_format.h"

namespace moqa::data {

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
  std::filesystem::path labels;         // the separate labels file the golds came from; empty: the records
  std::vector<ChoiceExample> examples;  // in file order
  // Whether lm-eval's task lists acc_norm among its metrics (ARC, PIQA; not RTE, COPA, CB). moqa
  // computes both for every task; this only says which one is comparable with published tables.
  bool lm_eval_reports_acc_norm = false;
  // > 0: every example has these same classes as its choices and lm-eval also reports their macro F1
  // (cb: 3; eval::ZeroShotCounts keeps the confusion matrix it comes from).
  int64_t f1_classes = 0;
};

// The first `limit` examples (0: all) of the file, as lm-eval's --limit takes the first documents.
// Records after the limit are not parsed. `labels` (piqa only; empty: none) is a text file with one
// integer label per line, in record order, as PIQA's release ships them (dev-labels.lst beside dev.jsonl);
// it must have exactly one line per record, and a record that carries its own "label" must agree with it.
ChoiceTask load_task(const std::filesystem::path& path, TaskFormat format, int64_t limit = 0,
                     const std::filesystem::path& labels = {});

// Python's len(): Unicode code points of valid UTF-8 (acc_norm divides by it, as lm-eval does).
int64_t count_code_points(std::string_view utf8);

// Python's str.isspace() for ASCII (space, \t, \n, \r, \v, \f): what the templates' strip() and lm-eval's
// context.rstrip() remove in practice. Other Unicode white space is kept.
bool is_ascii_space(char c);

}  // namespace moqa::data
