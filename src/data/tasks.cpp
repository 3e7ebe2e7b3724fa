#include "data/tasks.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>
#include <span>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/jsonl_record.h"
#include "data/text_file.h"
#include "tokenizer/utf8.h"

namespace moqa::data {
namespace {

using nlohmann::json;

std::string_view strip(std::string_view text) {
  while (!text.empty() && is_ascii_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_ascii_space(text.back())) text.remove_suffix(1);
  return text;
}

// One record being read: every accessor names file:line and the field when the record is wrong.
// A label read from a separate labels file for the record (PIQA's release), with where it was read.
struct ExternalLabel {
  int64_t value = 0;
  std::string where;  // "dev-labels.lst:17"
};

class Record {
 public:
  Record(const std::filesystem::path& path, const JsonlLine& line, std::optional<ExternalLabel> external = {})
      : path_(path), line_(line.number), value_(parse_jsonl_object(path, line)), external_(std::move(external)) {}

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
  // A member of a nested object field, named "question.stem" in messages.
  const json& member(const json& object, const char* key, const std::string& name) const {
    const auto it = object.find(key);
    if (it == object.end()) fail(where(), ": missing field \"", name, "\"");
    return *it;
  }
  // A label in [0, count): an integer (Hugging Face exports class labels as integers; unlabelled test splits
  // as -1: say so) or, when `names` are given, one of them (the original SuperGLUE files spell labels out).
  // With a labels file the record's own label is optional and must agree with the file's.
  // `missing_hint` is appended to the "missing field" message.
  int64_t label(const char* key, int64_t count, std::span<const std::string_view> names = {},
                std::string_view missing_hint = {}) const {
    if (!has(key)) {
      if (external_) return external_->value;
      fail(where(), ": missing field \"", key, "\"", missing_hint);
    }
    const int64_t own = parse_label(key, count, names);
    if (external_ && own != external_->value)
      fail(where(), ": field \"", key, "\" is ", own, " but the labels file says ", external_->value, " (",
           external_->where, ")");
    return own;
  }
  std::string non_empty_string(const char* key) const {
    std::string text = string(key);
    if (strip(text).empty()) fail(where(), ": field \"", key, "\": expected a non-empty string, found \"", text, "\"");
    return text;
  }

 private:
  int64_t parse_label(const char* key, int64_t count, std::span<const std::string_view> names) const {
    const json& value = field(key);
    std::string expected = cat("an integer in [0, ", count, ")");
    if (!names.empty()) {
      expected += " or one of";
      for (size_t i = 0; i < names.size(); ++i) expected += cat(i ? ", \"" : " \"", names[i], "\"");
      if (value.is_string()) {
        const auto it = std::find(names.begin(), names.end(), value.get<std::string>());
        if (it != names.end()) return static_cast<int64_t>(it - names.begin());
      }
    }
    if (!value.is_number_integer()) fail(where(), ": field \"", key, "\": expected ", expected, ", found ", describe(value));
    const int64_t label = value.get<int64_t>();
    if (label < 0 || label >= count) {
      fail(where(), ": field \"", key, "\": expected ", expected, ", found ", label,
           label == -1 ? " (an unlabelled test split? use the validation split)" : "");
    }
    return label;
  }

  static std::string describe(const json& value) {
    std::string text = value.dump();
    if (text.size() > 60) text = text.substr(0, 57) + "...";
    return cat(value.type_name(), " ", text);
  }

  const std::filesystem::path& path_;
  int64_t line_;
  json value_;
  std::optional<ExternalLabel> external_;
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

// The answer's index among the choices' labels.
int64_t answer_index(const Record& r, const std::vector<std::string>& label_names, const char* labels_field) {
  const std::string key = r.string("answerKey");
  const auto it = std::find(label_names.begin(), label_names.end(), key);
  if (it != label_names.end()) return static_cast<int64_t>(it - label_names.begin());
  std::string known;
  for (const std::string& l : label_names) known += (known.empty() ? "" : ", ") + l;
  fail(r.where(), ": field \"answerKey\": \"", key, "\" is not one of ", labels_field, " (", known, ")");
}

// The AI2 release: {"question": {"stem": str, "choices": [{"text": str, "label": str}, ...]}, "answerKey": str}.
ChoiceExample arc_release(const Record& r, const json& question) {
  ChoiceExample e;
  e.context = cat("Question: ", r.as_string(r.member(question, "stem", "question.stem"), "question.stem"), "\nAnswer:");
  const json& choices = r.member(question, "choices", "question.choices");
  if (!choices.is_array())
    fail(r.where(), ": field \"question.choices\": expected an array of {\"text\", \"label\"} objects");
  std::vector<std::string> label_names;
  for (size_t i = 0; i < choices.size(); ++i) {
    const std::string name = cat("question.choices[", i, "]");
    if (!choices[i].is_object()) fail(r.where(), ": field \"", name, "\": expected an object {\"text\", \"label\"}");
    e.choices.push_back(r.as_string(r.member(choices[i], "text", name + ".text"), name + ".text"));
    label_names.push_back(r.as_string(r.member(choices[i], "label", name + ".label"), name + ".label"));
  }
  e.gold = answer_index(r, label_names, "question.choices[].label");
  return e;
}

// The Hugging Face export: {"question": str, "choices": {"text": [str], "label": [str]}, "answerKey": str}.
ChoiceExample arc_export(const Record& r, const json& question) {
  ChoiceExample e;
  e.context = cat("Question: ", r.as_string(question, "question"), "\nAnswer:");
  const json& choices = r.field("choices");
  if (!choices.is_object())
    fail(r.where(), ": field \"choices\": expected an object {\"text\": [...], \"label\": [...]}");
  e.choices = r.strings(r.member(choices, "text", "choices.text"), "choices.text");
  const std::vector<std::string> label_names = r.strings(r.member(choices, "label", "choices.label"), "choices.label");
  if (label_names.size() != e.choices.size()) {
    fail(r.where(), ": field \"choices.label\": expected one label per choice (", e.choices.size(), "), found ",
         label_names.size());
  }
  e.gold = answer_index(r, label_names, "choices.label");
  return e;
}

ChoiceExample arc(const Record& r) {
  const json& question = r.field("question");
  if (question.is_object()) return arc_release(r, question);
  if (question.is_string()) return arc_export(r, question);
  fail(r.where(), ": field \"question\": expected a string (Hugging Face export) or an object {\"stem\", ",
       "\"choices\"} (AI2 release), found ", question.type_name());
}

ChoiceExample piqa(const Record& r) {
  ChoiceExample e;
  e.context = cat("Question: ", r.string("goal"), "\nAnswer:");
  e.choices = {r.string("sol1"), r.string("sol2")};
  e.gold = r.label("label", 2, {},
                   " (PIQA's release keeps its labels in a separate file, one per line: name it with the "
                   "[[evaluation]] key labels, or pass it to load_task)");
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
  static constexpr std::array<std::string_view, 2> kNames{"entailment", "not_entailment"};
  e.gold = r.label("label", 2, kNames);
  return e;
}

ChoiceExample cb(const Record& r) {
  ChoiceExample e;
  e.context = cat(r.string("premise"), "\nQuestion: ", r.string("hypothesis"), ". True, False, or Neither?\nAnswer:");
  e.choices = {"True", "False", "Neither"};
  static constexpr std::array<std::string_view, 3> kNames{"entailment", "contradiction", "neutral"};
  e.gold = r.label("label", 3, kNames);
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

// One integer label in [0, count) per line (a final newline is optional), as PIQA's *-labels.lst.
std::vector<ExternalLabel> read_labels(const std::filesystem::path& path, int64_t count) {
  const std::string text = read_text(path);
  std::vector<ExternalLabel> labels;
  size_t begin = 0;
  for (int64_t number = 1; begin < text.size(); ++number) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    const std::string_view line = strip(std::string_view(text).substr(begin, end - begin));
    begin = end + 1;
    int64_t value = -1;
    const auto [next, ec] = std::from_chars(line.data(), line.data() + line.size(), value);
    if (ec != std::errc() || next != line.data() + line.size() || value < 0 || value >= count)
      fail(path.string(), ":", number, ": expected an integer label in [0, ", count, "), found \"", line, "\"");
    labels.push_back({value, cat(path.string(), ":", number)});
  }
  return labels;
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

bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

int64_t count_code_points(std::string_view utf8) {
  int64_t count = 0;
  for (const char c : utf8) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

ChoiceTask load_task(const std::filesystem::path& path, TaskFormat format, int64_t limit,
                     const std::filesystem::path& labels) {
  MOQA_CHECK(limit >= 0, path.string(), ": task limit must be >= 0 (0 = all examples), got ", limit);
  MOQA_CHECK(labels.empty() || format == TaskFormat::piqa, labels.string(), ": a separate labels file is read for task ",
             "\"piqa\" only (PIQA's release), not for \"", task_format_name(format), "\"");
  ChoiceTask task;
  task.format = format;
  task.source = path;
  task.labels = labels;
  task.lm_eval_reports_acc_norm =
      format == TaskFormat::arc_challenge || format == TaskFormat::arc_easy || format == TaskFormat::piqa;
  task.f1_classes = format == TaskFormat::cb ? 3 : 0;
  const std::vector<JsonlLine> lines = read_jsonl_lines(path);
  std::vector<ExternalLabel> external;
  if (!labels.empty()) {
    external = read_labels(labels, 2);
    MOQA_CHECK(external.size() == lines.size(), path.string(), " has ", lines.size(), " records but ",
               labels.string(), " has ", external.size(), " labels, expected one label per record, in record order");
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    if (limit > 0 && static_cast<int64_t>(task.examples.size()) == limit) break;
    const Record record(path, lines[i], external.empty() ? std::nullopt : std::optional(external[i]));
    ChoiceExample example = read_example(record, format);
    example.line = record.line();
    for (size_t c = 0; c < example.choices.size(); ++c) {
      if (example.choices[c].empty())
        fail(record.where(), ": choice ", c, " is empty (acc_norm divides by its length)");
    }
    task.examples.push_back(std::move(example));
  }
  MOQA_CHECK(!task.examples.empty(), path.string(), ": no examples (expected one JSON record per line for task \"",
             task_format_name(format), "\")");
  return task;
}

}  // namespace moqa::data
