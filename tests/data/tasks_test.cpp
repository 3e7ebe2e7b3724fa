// Zero-shot task files: each lm-eval template reproduced exactly on hand-written records in the Hugging Face
// export formats (tests/data/tasks/), the generic multiple_choice format, --limit, and bad files named by
// file:line and field.
#include "data/tasks.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "support/test_support.h"

namespace moqa::data {
namespace {

using test::error_of;

std::filesystem::path fixture(const std::string& name) { return test::data_dir() / "tasks" / name; }

ChoiceTask load(const std::string& name, TaskFormat format, int64_t limit = 0) {
  return load_task(fixture(name), format, limit);
}

std::filesystem::path write_file(const std::string& name, const std::string& text) {
  const auto path = test::temp_dir("tasks") / name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

using Strings = std::vector<std::string>;

TEST(Tasks, ArcTemplateChoicesAndAnswerKeyIndex) {
  const ChoiceTask task = load("arc_challenge.jsonl", TaskFormat::arc_challenge);
  ASSERT_EQ(task.examples.size(), 6u);
  EXPECT_TRUE(task.lm_eval_reports_acc_norm);
  const ChoiceExample& first = task.examples[0];
  EXPECT_EQ(
      first.context,
      "Question: Which property of a copper wire makes it a good choice for household electrical wiring?\nAnswer:");
  EXPECT_EQ(first.choices, (Strings{"It is magnetic.", "It conducts electricity well.", "It is lighter than plastic.",
                                    "It melts at room temperature."}));
  EXPECT_EQ(first.gold, 1);
  EXPECT_EQ(first.target_delimiter, " ");
  EXPECT_EQ(first.line, 1);
  // Numeric labels ("1".."4") and five or three choices occur in ARC.
  EXPECT_EQ(task.examples[2].gold, 2);
  EXPECT_EQ(task.examples[3].choices.size(), 5u);
  EXPECT_EQ(task.examples[4].choices, (Strings{"a thermometer", "a balance", "a ruler"}));
  EXPECT_EQ(load("arc_easy.jsonl", TaskFormat::arc_easy).examples[3].gold, 2);
}

TEST(Tasks, PiqaTemplate) {
  const ChoiceTask task = load("piqa.jsonl", TaskFormat::piqa);
  ASSERT_EQ(task.examples.size(), 5u);
  EXPECT_TRUE(task.lm_eval_reports_acc_norm);
  EXPECT_EQ(task.examples[1].context, "Question: To loosen a tight jar lid,\nAnswer:");
  EXPECT_EQ(task.examples[1].choices,
            (Strings{"put the jar in the freezer for an hour.", "run the lid under hot water for a minute."}));
  EXPECT_EQ(task.examples[1].gold, 1);
}

TEST(Tasks, CopaConnectorReplacesFinalPeriodAndChoicesAreLowerCased) {
  const ChoiceTask task = load("copa.jsonl", TaskFormat::copa);
  ASSERT_EQ(task.examples.size(), 6u);
  EXPECT_FALSE(task.lm_eval_reports_acc_norm);
  EXPECT_EQ(task.examples[0].context, "The man dropped the glass therefore");
  EXPECT_EQ(task.examples[0].choices, (Strings{" it shattered on the floor.", " it filled with water."}));
  EXPECT_EQ(task.examples[0].gold, 0);
  EXPECT_EQ(task.examples[1].context, "My phone battery died because");
  EXPECT_EQ(task.examples[1].gold, 1);
  // The premise is stripped before its last character goes.
  EXPECT_EQ(task.examples[4].context, "The road was icy therefore");
  EXPECT_EQ(task.examples[4].target_delimiter, " ");
  // The last character is a code point, not a byte.
  const auto path = write_file(
      "copa_utf8.jsonl",
      R"({"premise": "Il a dit oui…", "choice1": "Él vino.", "choice2": "B", "question": "cause", "label": 0})"
      "\n");
  const ChoiceExample e = load_task(path, TaskFormat::copa).examples[0];
  EXPECT_EQ(e.context, "Il a dit oui because");
  EXPECT_EQ(e.choices, (Strings{" Él vino.", " b"}));  // only an ASCII first letter is lower-cased
}

TEST(Tasks, RteGlueAndSuperGlueFieldNames) {
  const ChoiceTask glue = load("rte_glue.jsonl", TaskFormat::rte);
  ASSERT_EQ(glue.examples.size(), 5u);
  EXPECT_EQ(
      glue.examples[1].context,
      "Heavy rain forced the organisers to postpone the outdoor concert until Sunday.\nQuestion: The concert took "
      "place as planned on Saturday. True or False?\nAnswer:");
  EXPECT_EQ(glue.examples[1].choices, (Strings{"True", "False"}));
  EXPECT_EQ(glue.examples[1].gold, 1);
  const ChoiceTask super = load("rte_superglue.jsonl", TaskFormat::rte);
  EXPECT_EQ(
      super.examples[0].context,
      "The bridge was closed for repairs for three weeks in March.\nQuestion: The bridge was closed in March. True "
      "or False?\nAnswer:");
  EXPECT_EQ(super.examples[0].gold, 0);
}

TEST(Tasks, CbTemplateHasThreeChoices) {
  const ChoiceTask task = load("cb.jsonl", TaskFormat::cb);
  ASSERT_EQ(task.examples.size(), 5u);
  EXPECT_EQ(task.examples[0].context,
            "A: I think the meeting was moved to Thursday. B: I'm not sure it was moved at all.\nQuestion: the meeting "
            "was moved. True, False, or Neither?\nAnswer:");
  EXPECT_EQ(task.examples[0].choices, (Strings{"True", "False", "Neither"}));
  EXPECT_EQ(task.examples[0].gold, 2);
  EXPECT_EQ(task.examples[2].gold, 1);
}

TEST(Tasks, GenericMultipleChoiceKeepsLineNumbersAndDelimiters) {
  const ChoiceTask task = load("multiple_choice.jsonl", TaskFormat::multiple_choice);
  ASSERT_EQ(task.examples.size(), 5u);
  EXPECT_EQ(task.examples[0].context, "The capital of France is");
  EXPECT_EQ(task.examples[0].target_delimiter, " ");
  EXPECT_EQ(task.examples[1].context, "def add(a, b):\n");
  EXPECT_EQ(task.examples[1].target_delimiter, "");
  EXPECT_EQ(task.examples[2].line, 4);  // line 3 is blank
  EXPECT_EQ(task.examples[3].choices.size(), 4u);
  EXPECT_EQ(task.examples[4].context, "");
  EXPECT_EQ(task.examples[4].gold, 1);
}

TEST(Tasks, LimitTakesTheFirstExamplesAndSkipsTheRest) {
  EXPECT_EQ(load("piqa.jsonl", TaskFormat::piqa, 2).examples.size(), 2u);
  EXPECT_EQ(load("piqa.jsonl", TaskFormat::piqa, 100).examples.size(), 5u);
  const auto path =
      write_file("limit.jsonl", "{\"goal\": \"g\", \"sol1\": \"a\", \"sol2\": \"b\", \"label\": 0}\nnot json\n");
  EXPECT_EQ(load_task(path, TaskFormat::piqa, 1).examples.size(), 1u);
  EXPECT_NE(error_of([&] { load_task(path, TaskFormat::piqa); }).find("limit.jsonl:2: invalid JSON"),
            std::string::npos);
  EXPECT_THROW(load_task(path, TaskFormat::piqa, -1), Error);
}

// The original releases: AI2's nested ARC records and SuperGLUE's string labels load like the exports
// (the real files are tested in tasks_real_test.cpp).
TEST(Tasks, ReleaseShapesLoadLikeTheExports) {
  const auto arc = write_file(
      "arc_release.jsonl",
      R"({"id": "x", "question": {"stem": "Which is a metal?", "choices": [{"text": "iron", "label": "1"}, )"
      R"({"text": "wood", "label": "2"}]}, "answerKey": "1"})"
      "\n"
      R"({"question": "Which is a gas?", "choices": {"text": ["rock", "air"], "label": ["A", "B"]}, "answerKey": "B"})"
      "\n");
  const ChoiceTask task = load_task(arc, TaskFormat::arc_easy);
  ASSERT_EQ(task.examples.size(), 2u);  // both shapes in one file: recognised per record
  EXPECT_EQ(task.examples[0].context, "Question: Which is a metal?\nAnswer:");
  EXPECT_EQ(task.examples[0].choices, (Strings{"iron", "wood"}));
  EXPECT_EQ(task.examples[0].gold, 0);
  EXPECT_EQ(task.examples[1].gold, 1);

  const auto rte = write_file("rte_release.jsonl",
                              R"({"premise": "p", "hypothesis": "h", "label": "not_entailment", "idx": 0})"
                              "\n"
                              R"({"premise": "p", "hypothesis": "h", "label": "entailment", "idx": 1})"
                              "\n");
  const ChoiceTask r = load_task(rte, TaskFormat::rte);
  EXPECT_EQ(r.examples[0].gold, 1);
  EXPECT_EQ(r.examples[1].gold, 0);
  const auto cb = write_file("cb_release.jsonl", R"({"premise": "p", "hypothesis": "h", "label": "entailment"})"
                                                 "\n"
                                                 R"({"premise": "p", "hypothesis": "h", "label": "contradiction"})"
                                                 "\n"
                                                 R"({"premise": "p", "hypothesis": "h", "label": "neutral"})"
                                                 "\n");
  const ChoiceTask c = load_task(cb, TaskFormat::cb);
  EXPECT_EQ(c.examples[0].gold, 0);
  EXPECT_EQ(c.examples[1].gold, 1);
  EXPECT_EQ(c.examples[2].gold, 2);
  EXPECT_EQ(c.f1_classes, 3);
  EXPECT_EQ(load("rte_glue.jsonl", TaskFormat::rte).f1_classes, 0);
}

// PIQA's release: records without labels, and a labels file with one per line.
TEST(Tasks, PiqaLabelsFile) {
  const std::string a = R"({"goal": "g1", "sol1": "a", "sol2": "b"})";
  const std::string b = R"({"goal": "g2", "sol1": "c", "sol2": "d"})";
  const auto records = write_file("dev.jsonl", a + "\n\n" + b + "\n");  // blank lines are not records
  const auto labels = write_file("dev-labels.lst", "1\n0\n");
  const ChoiceTask task = load_task(records, TaskFormat::piqa, 0, labels);
  ASSERT_EQ(task.examples.size(), 2u);
  EXPECT_EQ(task.examples[0].gold, 1);
  EXPECT_EQ(task.examples[1].gold, 0);
  EXPECT_EQ(task.examples[1].line, 3);
  EXPECT_EQ(load_task(records, TaskFormat::piqa, 0, write_file("no-newline.lst", "0\n1")).examples[1].gold, 1);
  EXPECT_EQ(load_task(records, TaskFormat::piqa, 1, labels).examples.size(), 1u);

  // Count mismatch: both files named, whatever the limit.
  const auto short_labels = write_file("short-labels.lst", "1\n");
  for (const int64_t limit : {0, 1}) {
    const std::string message = error_of([&] { load_task(records, TaskFormat::piqa, limit, short_labels); });
    EXPECT_NE(message.find("dev.jsonl has 2 records but "), std::string::npos) << message;
    EXPECT_NE(message.find("short-labels.lst has 1 labels"), std::string::npos) << message;
  }
  EXPECT_NE(error_of([&] { load_task(records, TaskFormat::piqa, 0, write_file("bad-labels.lst", "1\nyes\n")); })
                .find("bad-labels.lst:2: expected an integer label in [0, 2), found \"yes\""),
            std::string::npos);
  EXPECT_NE(error_of([&] { load_task(records, TaskFormat::piqa, 0, write_file("blank-labels.lst", "1\n\n0\n")); })
                .find("blank-labels.lst:2: expected an integer label"),
            std::string::npos);
  // A record with its own label must agree with the file.
  const auto labelled = write_file("labelled.jsonl", R"({"goal": "g", "sol1": "a", "sol2": "b", "label": 0})"
                                                     "\n");
  EXPECT_EQ(load_task(labelled, TaskFormat::piqa, 0, write_file("agree.lst", "0\n")).examples[0].gold, 0);
  const std::string disagree = error_of([&] { load_task(labelled, TaskFormat::piqa, 0, write_file("one.lst", "1\n")); });
  EXPECT_NE(disagree.find("labelled.jsonl:1: field \"label\" is 0 but the labels file says 1"), std::string::npos)
      << disagree;
  EXPECT_NE(disagree.find("one.lst:1"), std::string::npos) << disagree;
  // Only PIQA has a labels file.
  EXPECT_NE(error_of([&] { load_task(fixture("cb.jsonl"), TaskFormat::cb, 0, labels); }).find("\"piqa\" only"),
            std::string::npos);
}

TEST(Tasks, NamesRoundTrip) {
  for (TaskFormat f : {TaskFormat::arc_challenge, TaskFormat::arc_easy, TaskFormat::piqa, TaskFormat::copa,
                       TaskFormat::rte, TaskFormat::cb, TaskFormat::multiple_choice}) {
    EXPECT_EQ(parse_task_format(task_format_name(f)), f);
  }
  EXPECT_EQ(task_format_name(TaskFormat::arc_challenge), "arc_challenge");
  EXPECT_FALSE(parse_task_format("hellaswag").has_value());
}

TEST(Tasks, CodePointsCountLikePythonLen) {
  EXPECT_EQ(count_code_points(""), 0);
  EXPECT_EQ(count_code_points(" it shattered."), 14);
  EXPECT_EQ(count_code_points("café…🤖"), 6);
}

struct BadCase {
  TaskFormat format;
  std::string record;
  std::string expected;  // substring of the message after "bad.jsonl:2: "
};

TEST(Tasks, BadRecordsNameFileLineAndField) {
  const std::string good_piqa = R"({"goal": "g", "sol1": "a", "sol2": "b", "label": 0})";
  const std::vector<BadCase> cases = {
      {TaskFormat::piqa, R"({"goal": "g", "sol1": "a", "label": 0})", "missing field \"sol2\""},
      {TaskFormat::piqa, R"({"goal": 5, "sol1": "a", "sol2": "b", "label": 0})",
       "field \"goal\": expected a string, found number 5"},
      {TaskFormat::piqa, R"({"goal": "g", "sol1": "a", "sol2": "b", "label": 2})",
       "field \"label\": expected an integer in [0, 2), found 2"},
      {TaskFormat::piqa, R"({"goal": "g", "sol1": "a", "sol2": "b", "label": -1})", "unlabelled test split"},
      {TaskFormat::piqa, R"({"goal": "g", "sol1": "a", "sol2": "b", "label": "0"})",
       "expected an integer in [0, 2), found string \"0\""},
      {TaskFormat::piqa, R"({"goal": "g", "sol1": "", "sol2": "b", "label": 0})", "choice 0 is empty"},
      {TaskFormat::piqa, R"(["goal"])", "expected a JSON object per line, found array"},
      {TaskFormat::piqa, R"({"goal": "g",)", "invalid JSON"},
      {TaskFormat::arc_easy,
       R"({"question": "q", "choices": {"text": ["a", "b"], "label": ["A", "B"]}, "answerKey": "C"})",
       "field \"answerKey\": \"C\" is not one of choices.label (A, B)"},
      {TaskFormat::arc_easy, R"({"question": "q", "choices": {"text": ["a", "b"], "label": ["A"]}, "answerKey": "A"})",
       "field \"choices.label\": expected one label per choice (2), found 1"},
      {TaskFormat::arc_easy,
       R"({"question": "q", "choices": {"text": ["a", 3], "label": ["A", "B"]}, "answerKey": "A"})",
       "field \"choices.text[1]\": expected a string, found number 3"},
      {TaskFormat::arc_easy, R"({"question": "q", "choices": ["a", "b"], "answerKey": "A"})",
       "field \"choices\": expected an object"},
      {TaskFormat::copa, R"({"premise": "p.", "choice1": "a", "choice2": "b", "question": "reason", "label": 0})",
       "field \"question\": expected \"cause\" or \"effect\", found \"reason\""},
      {TaskFormat::copa, R"({"premise": "  ", "choice1": "a", "choice2": "b", "question": "cause", "label": 0})",
       "field \"premise\": expected a non-empty string"},
      {TaskFormat::rte, R"({"premise": "p", "label": 0})", "missing field \"hypothesis\""},
      {TaskFormat::rte, R"({"sentence1": "p", "hypothesis": "h", "label": 0})", "missing field \"sentence2\""},
      {TaskFormat::cb, R"({"premise": "p", "hypothesis": "h", "label": 3})",
       "field \"label\": expected an integer in [0, 3) or one of \"entailment\", \"contradiction\", \"neutral\", "
       "found 3"},
      {TaskFormat::rte, R"({"premise": "p", "hypothesis": "h", "label": "entailed"})",
       "field \"label\": expected an integer in [0, 2) or one of \"entailment\", \"not_entailment\", found string "
       "\"entailed\""},
      {TaskFormat::arc_easy, R"({"question": 7, "answerKey": "A"})",
       "field \"question\": expected a string (Hugging Face export) or an object {\"stem\", \"choices\"} (AI2 "
       "release), found number"},
      {TaskFormat::arc_easy, R"({"question": {"choices": []}, "answerKey": "A"})", "missing field \"question.stem\""},
      {TaskFormat::arc_easy, R"({"question": {"stem": "q", "choices": [{"text": "a", "label": "A"}, {"text": "b"}]}, "answerKey": "A"})",
       "missing field \"question.choices[1].label\""},
      {TaskFormat::arc_easy, R"({"question": {"stem": "q", "choices": [{"text": "a", "label": "A"}]}, "answerKey": "B"})",
       "field \"answerKey\": \"B\" is not one of question.choices[].label (A)"},
      {TaskFormat::multiple_choice, R"({"context": "c", "choices": ["only"], "gold": 0})",
       "expected at least 2 choices, found 1"},
      {TaskFormat::multiple_choice, R"({"context": "c", "choices": "ab", "gold": 0})",
       "field \"choices\": expected an array of strings"},
      {TaskFormat::multiple_choice, R"({"context": "c", "choices": ["a", "b"], "gold": 1.5})",
       "field \"gold\": expected an integer"},
      {TaskFormat::multiple_choice, R"({"context": "c", "choices": ["a", "b"], "gold": 0, "target_delimiter": null})",
       "field \"target_delimiter\": expected a string, found null"},
  };
  for (const BadCase& c : cases) {
    const std::string first = c.format == TaskFormat::piqa ? good_piqa : "";
    const auto path = write_file("bad.jsonl", (first.empty() ? std::string("\n") : first + "\n") + c.record + "\n");
    const std::string message = error_of([&] { load_task(path, c.format); });
    EXPECT_NE(message.find("bad.jsonl:2: "), std::string::npos) << message;
    EXPECT_NE(message.find(c.expected), std::string::npos) << "expected \"" << c.expected << "\" in: " << message;
  }
  EXPECT_NE(
      error_of([&] { load_task(write_file("empty.jsonl", "\n\n"), TaskFormat::cb); }).find("empty.jsonl: no examples"),
      std::string::npos);
  EXPECT_NE(error_of([&] { load_task(fixture("missing.jsonl"), TaskFormat::cb); }).find("missing.jsonl"),
            std::string::npos);
}

}  // namespace
}  // namespace moqa::data
