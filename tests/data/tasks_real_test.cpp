// Zero-shot tasks on the real benchmark files of ../shared/assets/eval (assets/README.md): the original
// releases load (AI2 ARC jsonl, PIQA's dev.jsonl + dev-labels.lst, SuperGLUE RTE / CB / COPA jsonl), with
// the row counts lm-eval scores, and a few rows per task render exactly as lm-eval 0.4's task YAMLs do.
// The expected strings were read from the files and cross-checked by rendering the lm-eval templates with
// jinja2 (lm-eval's own template engine and settings) in Python, independently of moqa.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "data/tasks.h"
#include "support/test_support.h"

namespace moqa::data {
namespace {

using Strings = std::vector<std::string>;

std::filesystem::path eval_dir() { return test::assets_dir() / "eval"; }

// What lm-eval scores for an example: the context, and per choice the continuation delimiter + choice.
struct Rendered {
  std::string context;
  Strings continuations;
  int64_t gold = 0;
};

Rendered render(const ChoiceExample& e) {
  Rendered r{e.context, {}, e.gold};
  for (const std::string& choice : e.choices) r.continuations.push_back(e.target_delimiter + choice);
  return r;
}

void expect_row(const ChoiceTask& task, size_t row, const Rendered& expected) {
  ASSERT_LT(row, task.examples.size());
  const Rendered got = render(task.examples[row]);
  EXPECT_EQ(got.context, expected.context) << task.source << " row " << row;
  EXPECT_EQ(got.continuations, expected.continuations) << task.source << " row " << row;
  EXPECT_EQ(got.gold, expected.gold) << task.source << " row " << row;
  EXPECT_EQ(task.examples[row].line, static_cast<int64_t>(row) + 1);  // no blank lines in these files
}

TEST(TasksRealFiles, ArcChallengeTest) {
  const auto path = eval_dir() / "arc" / "ARC-Challenge-Test.jsonl";
  MOQA_REQUIRE_ASSET(path);
  const ChoiceTask task = load_task(path, TaskFormat::arc_challenge);
  EXPECT_EQ(task.examples.size(), 1172u);
  expect_row(task, 0,
             {"Question: An astronomer observes that a planet rotates faster after a meteorite impact. Which is the "
              "most likely effect of this increase in rotation?\nAnswer:",
              {" Planetary density will decrease.", " Planetary years will become longer.",
               " Planetary days will become shorter.", " Planetary gravity will become stronger."},
              2});
  // Labels "1".."4" (answerKey "2").
  expect_row(task, 44,
             {"Question: Which statement best describes the energy changes that occur while a child is riding on a "
              "sled down a steep, snow-covered hill?\nAnswer:",
              {" Kinetic energy decreases and potential energy increases.",
               " Kinetic energy increases and potential energy decreases.",
               " Both potential energy and kinetic energy decrease.",
               " Both potential energy and kinetic energy increase."},
              1});
  // Five choices.
  expect_row(task, 836,
             {"Question: How are warm-blooded animals different from cold-blooded animals?\nAnswer:",
              {" Warm-blooded animals have a higher metabolism in warm weather.",
               " Warm-blooded animals are more aggressive in captivity.",
               " Warm-blooded animals always have a higher blood temperature.",
               " Warm-blooded animals normally maintain a fairly constant internal temperature at all air "
               "temperatures.",
               " Warm-blooded animals are found only in warm climates."},
              3});
  expect_row(task, 1171,
             {"Question: A ball is thrown downward onto a concrete floor and bounces upward. What supplies the upward "
              "force that makes the ball bounce?\nAnswer:",
              {" the floor", " the pull of gravity", " the air friction on the ball", " the person that throws the ball"},
              0});
}

TEST(TasksRealFiles, ArcEasyTest) {
  const auto path = eval_dir() / "arc" / "ARC-Easy-Test.jsonl";
  MOQA_REQUIRE_ASSET(path);
  const ChoiceTask task = load_task(path, TaskFormat::arc_easy);
  EXPECT_EQ(task.examples.size(), 2376u);
  expect_row(task, 0,
             {"Question: Which statement best explains why photosynthesis is the foundation of most food webs?\nAnswer:",
              {" Sunlight is the source of energy for nearly all ecosystems.",
               " Most ecosystems are found on land instead of in water.",
               " Carbon dioxide is more available than other gases.", " The producers in all ecosystems are plants."},
              0});
  expect_row(task, 14,
             {"Question: All living and nonliving material is composed of\nAnswer:",
              {" air", " elements", " water", " soil"},
              1});
  expect_row(task, 93,
             {"Question: When a rock is placed in a graduated cylinder containing water, the height of the water "
              "will\nAnswer:",
              {" decrease", " increase", " remain the same"},
              1});
  expect_row(task, 2375,
             {"Question: Which part of a sunflower plant absorbs water and nutrients?\nAnswer:",
              {" Roots", " Stems", " Leaves", " Flowers"},
              0});
}

TEST(TasksRealFiles, PiqaValidationWithItsLabelsFile) {
  const auto path = eval_dir() / "piqa" / "dev.jsonl";
  const auto labels = eval_dir() / "piqa" / "dev-labels.lst";
  MOQA_REQUIRE_ASSET(path);
  MOQA_REQUIRE_ASSET(labels);
  const ChoiceTask task = load_task(path, TaskFormat::piqa, 0, labels);
  EXPECT_EQ(task.examples.size(), 1838u);
  EXPECT_EQ(task.labels, labels);
  expect_row(task, 0,
             {"Question: How do I ready a guinea pig cage for it's new occupants?\nAnswer:",
              {" Provide the guinea pig with a cage full of a few inches of bedding made of ripped paper strips, you "
               "will also need to supply it with a water bottle and a food dish.",
               " Provide the guinea pig with a cage full of a few inches of bedding made of ripped jeans material, you "
               "will also need to supply it with a water bottle and a food dish."},
              0});
  // Choices keep their own trailing and doubled spaces, as the template inserts them verbatim.
  expect_row(task, 1,
             {"Question: dresser\nAnswer:", {" replace drawer with bobby pin ", " finish, woodgrain with  bobby pin "},
              1});
  expect_row(task, 1837,
             {"Question: Where can I buy a tennis ball\nAnswer:",
              {" You can purchase a tennis ball at any sports store", " You can purchase a tennis racket at any sports store"},
              0});
  int64_t ones = 0;
  for (const ChoiceExample& e : task.examples) ones += e.gold;
  EXPECT_EQ(ones, 928);  // `sort dev-labels.lst | uniq -c`: 910 zeros, 928 ones
  // Without the labels file the records have no label: the message says where the labels are.
  const std::string message = test::error_of([&] { load_task(path, TaskFormat::piqa); });
  EXPECT_NE(message.find("dev.jsonl:1: missing field \"label\""), std::string::npos) << message;
  EXPECT_NE(message.find("labels"), std::string::npos) << message;
}

TEST(TasksRealFiles, SuperGlueRteValidation) {
  const auto path = eval_dir() / "superglue" / "RTE" / "val.jsonl";
  MOQA_REQUIRE_ASSET(path);
  const ChoiceTask task = load_task(path, TaskFormat::rte);
  EXPECT_EQ(task.examples.size(), 277u);
  expect_row(task, 0,
             {"Dana Reeve, the widow of the actor Christopher Reeve, has died of lung cancer at age 44, according to "
              "the Christopher Reeve Foundation.\nQuestion: Christopher Reeve had an accident. True or "
              "False?\nAnswer:",
              {" True", " False"},
              1});  // not_entailment
  expect_row(task, 1,
             {"Yet, we now are discovering that antibiotics are losing their effectiveness against illness. "
              "Disease-causing bacteria are mutating faster than we can come up with new antibiotics to fight the new "
              "variations.\nQuestion: Bacteria is winning the war against antibiotics. True or False?\nAnswer:",
              {" True", " False"},
              0});  // entailment
  expect_row(task, 276,
             {"Danny Kennedy, Greenpeace campaigns director, said: \"The burden of proof in the Scott Parkin expulsion "
              "case lies morally with the Commonwealth, to prove that he is a danger. When the Government brought in "
              "anti-terror legislation, they promised the public that these laws would only be used to confront a real "
              "and present risk of a terrorist attack, not a sweep-all approach against citizens. Peace is not "
              "terrorism. Peace is not a threat to national security. No democratic government should expel a foreign "
              "citizen because [it] opposes his political opinions.\"\nQuestion: Greenpeace director said that peace "
              "is terrorism. True or False?\nAnswer:",
              {" True", " False"},
              1});
  int64_t entailed = 0;
  for (const ChoiceExample& e : task.examples) entailed += e.gold == 0;
  EXPECT_EQ(entailed, 146);
}

TEST(TasksRealFiles, SuperGlueCbValidation) {
  const auto path = eval_dir() / "superglue" / "CB" / "val.jsonl";
  MOQA_REQUIRE_ASSET(path);
  const ChoiceTask task = load_task(path, TaskFormat::cb);
  EXPECT_EQ(task.examples.size(), 56u);
  EXPECT_EQ(task.f1_classes, 3);
  expect_row(task, 0,
             {"Valence the void-brain, Valence the virtuous valet. Why couldn't the figger choose his own portion of "
              "titanic anatomy to shaft? Did he think he was helping?\nQuestion: Valence was helping. True, False, or "
              "Neither?\nAnswer:",
              {" True", " False", " Neither"},
              1});  // contradiction
  expect_row(task, 1,
             {"``Who knows? The point is, do we go with it or not?'' Do we assume there is a shipment?\nQuestion: "
              "there is a shipment. True, False, or Neither?\nAnswer:",
              {" True", " False", " Neither"},
              2});  // neutral
  expect_row(task, 55,
             {"The lunch trade had mostly disappeared so he wasn't hard to spot. He was at a window table but he was "
              "ignoring the river, being deep in conversation with a middle-aged man wearing a suit and a short "
              "sheepskin car coat with matching brown suede shoes. Even from this distance you could guess the guy's "
              "tailor was based in Dublin.\nQuestion: the guy's tailor was based in Dublin. True, False, or "
              "Neither?\nAnswer:",
              {" True", " False", " Neither"},
              0});  // entailment
  std::vector<int64_t> per_class(3);
  for (const ChoiceExample& e : task.examples) ++per_class[static_cast<size_t>(e.gold)];
  EXPECT_EQ(per_class, (std::vector<int64_t>{23, 28, 5}));
}

TEST(TasksRealFiles, SuperGlueCopaValidation) {
  const auto path = eval_dir() / "superglue" / "COPA" / "val.reconstructed.jsonl";
  MOQA_REQUIRE_ASSET(path);
  const ChoiceTask task = load_task(path, TaskFormat::copa);
  EXPECT_EQ(task.examples.size(), 100u);
  expect_row(task, 0,
             {"The man turned on the faucet therefore",
              {"  the toilet filled with water.", "  water flowed from the spout."},
              1});
  expect_row(task, 4, {"The hamburger meat browned because", {"  the cook froze it.", "  the cook grilled it."}, 1});
  expect_row(task, 99,
             {"The woman was in a bad mood therefore",
              {"  she engaged in small talk with her friend.", "  she told her friend to leave her alone."},
              1});
}

}  // namespace
}  // namespace moqa::data
