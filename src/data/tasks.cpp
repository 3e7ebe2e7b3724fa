#include "data/tasks.h"

#include <array>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/jsonl_record.h"
#include "data/text_file.h"
#include "tokenizer/utf8.h"

namespace moqa::data {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 7> kTaskNames{"arc_challenge", "arc_easy", "piqa",           "copa",
                                                     "rte",           "cb",       "multiple_choice"};

std::string_view strip(std::string_view text) {
  while (!text.empty() && is_ascii_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_ascii_space(text.back())) text.remove_suffix(1);
  return text;
}

// One record being read: every accessor names file:line and the field when the record is wrong.
class Record {
 public:
  Record(const std::filesystem::path& path, const JsonlLine& line)
      : path_(path), line_(line.number), value_(parse_jsonl_object(path, line)) {}

  int64_t line() const { return line_; }
  std::string where() const { return cat(path_.string(), ":", line_); }
  bool has(const char* key) const { return value_.contains(key); }

  const json& field(const char* key) const {
    const auto it = value_.find(key);
    if (it == value_.end()) fail(where(), ": missing field \"", key, "\"");
    return *it;
  }
  std::string string(const char* key) const { return as_string(field(key), key); }
  std::string as_string(const json& value, const std::string& name) const {
    if (!value.is_string()) fail(where(), ": field \"", name, "\": expected a string, found ", describe(value));
    return value.get<std::string>();
  }
  std::vector<std::string> strings(const json& value, const std::string& name) const {
    if (!value.is_array())
      fail(where(), ": field \"", name, "\": expected an array of strings, found ", describe(value));
    std::vector<std::string> out;
    for (size_t i = 0; i < value.size(); ++i) out.push_back(as_string(value[i], cat(name, "[", i, "]")));
    return out;
  }
  // An integer label in [0, count). Hugging Face exports unlabelled test splits with label -1: say so.
  int64_t label(const char* key, int64_t count) const {
    const json& value = field(key);
    if (!value.is_number_integer())
      fail(where(), ": field \"", key, "\": expected an integer in [0, ", count, "), found ", describe(value));
    const int64_t label = value.get<int64_t>();
    if (label < 0 || label >= count) {
      fail(where(), ": field \"", key, "\": expected an integer in [0, ", count, "), found ", label,
           label == -1 ? " (an unlabelled test split? use the validation split)" : "");
    }
    return label;
  }
  std::string non_empty_string(const char* key) const {
    std::string text = string(key);
    if (strip(text).empty()) fail(where(), ": field \"", key, "\": expected a non-empty string, found \"", text, "\"");
    return text;
  }

 private:
  static std::string describe(const json& value) {
    std::string text = value.dump();
    if (text.size() > 60) text = text.substr(0, 57) + "...";
    return cat(value.type_name(), " ", text);
  }

  const std::filesystem::path& path_;
  int64_t line_;
  json value_;
};

// lm-eval's " " + convert_choice(choice): choice[0].lower() + choice[1:], for an ASCII first letter
// (COPA's choices are English).
std::string copa_choice(std::string_view choice) {
  std::string text = cat(" ", choice);
  if (text[1] >= 'A' && text[1] <= 'Z') text[1] = static_cast<char>(text[1] - 'A' + 'a');
  return text;
}

// Python's s.strip()[:-1]: drops the last code point (COPA's final period).
std::string drop_last_code_point(std::string_view text) {
  return std::string(text.substr(0, text.empty() ? 0 : tokenizer::previous_char_start(text, text.size())));
}

ChoiceExample arc(const Record& r) {
  ChoiceExample e;
  e.context = cat("Question: ", r.string("question"), "\nAnswer:");
  const json& choices = r.field("choices");
  if (!choices.is_object())
    fail(r.where(), ": field \"choices\": expected an object {\"text\": [...], \"label\": [...]}");
  const auto text = choices.find("text"), labels = choices.find("label");
  if (text == choices.end()) fail(r.where(), ": missing field \"choices.text\"");
  if (labels == choices.end()) fail(r.where(), ": missing field \"choices.label\"");
  e.choices = r.strings(*text, "choices.text");
  const std::vector<std::string> label_names = r.strings(*labels, "choices.label");
  if (label_names.size() != e.choices.size()) {
    fail(r.where(), ": field \"choices.label\": expected one label per choice (", e.choices.size(), "), found ",
         label_names.size());
  }
  const std::string key = r.string("answerKey");
  e.gold = -1;
  for (size_t i = 0; i < label_names.size() && e.gold < 0; ++i)
    if (label_names[i] == key) e.gold = static_cast<int64_t>(i);
  if (e.gold < 0) {
    std::string known;
    for (const std::string& l : label_names) known += (known.empty() ? "" : ", ") + l;
    fail(r.where(), ": field \"answerKey\": \"", key, "\" is not one of choices.label (", known, ")");
  }
  return e;
}

ChoiceExample piqa(const Record& r) {
  ChoiceExample e;
  e.context = cat("Question: ", r.string("goal"), "\nAnswer:");
  e.choices = {r.string("sol1"), r.string("sol2")};
  e.gold = r.label("label", 2);
  return e;
}

ChoiceExample copa(const Record& r) {
  ChoiceExample e;
  const std::string question = r.string("question");
  const char* connector = question == "cause" ? " because" : question == "effect" ? " therefore" : nullptr;
  if (!connector) fail(r.where(), ": field \"question\": expected \"cause\" or \"effect\", found \"", question, "\"");
  e.context = drop_last_code_point(strip(r.non_empty_string("premise"))) + connector;
  // lm-eval's choices carry their own leading space and the default delimiter adds another: the
  // continuation really is "  choice" (docs/EVALUATION.md).
  e.choices = {copa_choice(r.non_empty_string("choice1")), copa_choice(r.non_empty_string("choice2"))};
  e.gold = r.label("label", 2);
  return e;
}

ChoiceExample rte(const Record& r) {
  ChoiceExample e;
  // glue/rte names the pair sentence1/sentence2, super_glue/rte premise/hypothesis.
  const bool glue = r.has("sentence1") || r.has("sentence2");
  e.context = glue ? cat(r.string("sentence1"), "\nQuestion: ", r.string("sentence2"), " True or False?\nAnswer:")
                   : cat(r.string("premise"), "\nQuestion: ", r.string("hypothesis"), " True or False?\nAnswer:");
  e.choices = {"True", "False"};
  e.gold = r.label("label", 2);
  return e;
}

ChoiceExample cb(const Record& r) {
  ChoiceExample e;
  e.context = cat(r.string("premise"), "\nQuestion: ", r.string("hypothesis"), ". True, False, or Neither?\nAnswer:");
  e.choices = {"True", "False", "Neither"};
  e.gold = r.label("label", 3);
  return e;
}

ChoiceExample multiple_choice(const Record& r) {
  ChoiceExample e;
  e.context = r.string("context");
  e.choices = r.strings(r.field("choices"), "choices");
  if (e.choices.size() < 2)
    fail(r.where(), ": field \"choices\": expected at least 2 choices, found ", e.choices.size());
  e.gold = r.label("gold", static_cast<int64_t>(e.choices.size()));
  if (r.has("target_delimiter")) e.target_delimiter = r.string("target_delimiter");
  return e;
}

ChoiceExample read_example(const Record& r, TaskFormat format) {
  switch (format) {
    case TaskFormat::arc_challenge:
    case TaskFormat::arc_easy:
      return arc(r);
    case TaskFormat::piqa:
      return piqa(r);
    case TaskFormat::copa:
      return copa(r);
    case TaskFormat::rte:
      return rte(r);
    case TaskFormat::cb:
      return cb(r);
    case TaskFormat::multiple_choice:
      return multiple_choice(r);
  }
  fail("unknown task format ", static_cast<int>(format));
}

}  // namespace

std::string_view task_format_name(TaskFormat format) { return kTaskNames.at(static_cast<size_t>(format)); }

std::optional<TaskFormat> parse_task_format(std::string_view name) {
  for (size_t i = 0; i < kTaskNames.size(); ++i)
    if (kTaskNames[i] == name) return static_cast<TaskFormat>(i);
  return std::nullopt;
}

bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

int64_t count_code_points(std::string_view utf8) {
  int64_t count = 0;
  for (const char c : utf8) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

ChoiceTask load_task(const std::filesystem::path& path, TaskFormat format, int64_t limit) {
  MOQA_CHECK(limit >= 0, path.string(), ": task limit must be >= 0 (0 = all examples), got ", limit);
  ChoiceTask task;
  task.format = format;
  task.source = path;
  task.lm_eval_reports_acc_norm =
      format == TaskFormat::arc_challenge || format == TaskFormat::arc_easy || format == TaskFormat::piqa;
  for (const JsonlLine& line : read_jsonl_lines(path)) {
    if (limit > 0 && static_cast<int64_t>(task.examples.size()) == limit) break;
    const Record record(path, line);
    ChoiceExample example = read_example(record, format);
    example.line = record.line();
    for (size_t i = 0; i < example.choices.size(); ++i) {
      if (example.choices[i].empty())
        fail(record.where(), ": choice ", i, " is empty (acc_norm divides by its length)");
    }
    task.examples.push_back(std::move(example));
  }
  MOQA_CHECK(!task.examples.empty(), path.string(), ": no examples (expected one JSON record per line for task \"",
             task_format_name(format), "\")");
  return task;
}

}  // namespace moqa::data
