// The built moqa-pipeline as a user runs it: --help, --version, --dry-run, and the exit status and
// messages of bad input. (Stages themselves are tested with their modules.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <initializer_list>

#include "core/build_info.h"
#include "core/error.h"
#include "support/test_support.h"

namespace moqa::pipeline {
namespace {

using test::shell_quoted;
using ::testing::HasSubstr;
using ::testing::Not;

moqa::test::CommandResult pipeline(const std::string& arguments) {
  return moqa::test::run_command(shell_quoted(moqa::test::pipeline_exe()) + " " + arguments);
}

std::filesystem::path app_data() { return moqa::test::data_dir() / "app"; }

void expect_all(const std::string& output, std::initializer_list<std::string> parts) {
  for (const std::string& part : parts) EXPECT_THAT(output, HasSubstr(part));
}

TEST(Pipeline, HelpExplainsEveryOption) {
  const auto result = pipeline("--help");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  expect_all(result.output, {"--help", "--version", "--set", "--dry-run", "--output", "--ranks", "--list", "--index",
                             "sweep", "EXPERIMENT.toml", "KEY=VALUE", "Examples:", "Exit status:"});
  EXPECT_THAT(result.output, HasSubstr("2  usage or configuration error"));
  // The stages and where their results go.
  expect_all(result.output, {"Stages", "  calibrate  ", "  allocate   ", "  quantize   ", "  evaluate   ", "ETA",
                             "experiment.output_dir", "results.h5", "results.json", "results.md", "quantized-model/"});
}

TEST(Pipeline, VersionPrintsVersionAndCommit) {
  const auto result = pipeline("--version");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr(std::string("moqa-pipeline ") + build_info::version));
  EXPECT_THAT(result.output, HasSubstr(build_info::git_commit));
}

TEST(Pipeline, DryRunPrintsThePlan) {
  const auto result = pipeline(shell_quoted(app_data() / "experiment.toml") + " --dry-run");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  expect_all(result.output, {"== Resolved configuration ==", "name = \"app-test\"", "== Model ==\nmodel        mixtral",
                             "== Datasets ==\n  calibration  text: " + (app_data() / "text.txt").string(),
                             "89 B; 2 windows x 8 tokens", "== Expert-to-rank plan (1 rank) ==",
                             "3 MoE layers x 5 routed experts over 1 rank", "== Stages ==\n  1. calibrate: ",
                             "  4. evaluate: text (perplexity, known)"});
}

TEST(Pipeline, DryRunPreviewsOtherRankCountsAndAppliesOverrides) {
  const auto out_dir = moqa::test::temp_dir("app-output");
  const auto result = pipeline(shell_quoted(app_data() / "experiment.toml") +
                               " --dry-run --ranks 3 --set quantization.method=rtn --set calibration.0.samples=5 "
                               "--output " +
                               shell_quoted(out_dir));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  expect_all(result.output, {"== Expert-to-rank plan (3 ranks) ==", "  0        0-1       2-3       4\n",
                             "3. quantize: rtn, group 128", "5 windows x 8 tokens",
                             "output_dir = \"" + out_dir.generic_string() + "\""});
}

TEST(Pipeline, QuickstartDryRun) {
  MOQA_REQUIRE_ASSET(moqa::test::assets_dir() / "trained" / "mixtral-tiny" / "config.json");
  MOQA_REQUIRE_ASSET(moqa::test::assets_dir() / "text" / "tinyshakespeare" / "input.txt");
  const auto result =
      pipeline(shell_quoted(moqa::test::source_dir() / "experiments" / "quickstart.toml") + " --dry-run");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  expect_all(result.output, {"Experiment \"quickstart\"", "model        mixtral", "calibration  wikitext-2: ",
                             "calibration  tinyshakespeare: ", "code-test (perplexity, novel)",
                             "4 MoE layers x 8 routed experts over 1 rank", "2. allocate: moqa, target 3 bits",
                             "3. quantize: gptq, group 128"});
}

TEST(Pipeline, BadConfigExitsTwoWithFileLineColumn) {
  const auto file = app_data() / "bad_experiment.toml";
  const auto result = pipeline(shell_quoted(file));
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_THAT(result.output, HasSubstr(file.string() + ":4:8: experiment.seed: found integer -1, expected an integer >= 0"));
  EXPECT_THAT(result.output, HasSubstr(file.string() + ":9:1: model.compute_dtyp: found unknown key \"compute_dtyp\""));
  EXPECT_THAT(result.output, HasSubstr("(did you mean \"compute_dtype\"?)"));
  EXPECT_THAT(result.output, HasSubstr(file.string() + ":13:8: calibration.0.path: found \"missing.txt\""));
  EXPECT_THAT(result.output, HasSubstr("moqa-pipeline: 4 errors in " + file.string() + "; nothing was run"));
}

TEST(Pipeline, MissingExperimentFileExitsTwo) {
  const auto file = moqa::test::temp_dir("app-missing") / "nothing.toml";
  const auto result = pipeline(shell_quoted(file) + " --dry-run");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_THAT(result.output, HasSubstr(file.string() + ": cannot read the experiment: no such file"));
}

TEST(Pipeline, MissingModelConfigExitsTwo) {
  const auto dir = moqa::test::temp_dir("app-model");
  std::filesystem::create_directories(dir / "model");
  std::ofstream(dir / "t.txt") << "x";
  std::ofstream(dir / "exp.toml") << "[experiment]\nname = \"m\"\nstages = [\"evaluate\"]\n[model]\npath = \"model\"\n"
                                     "tokenizer = \"bytes\"\n[[evaluation]]\nname = \"t\"\npath = \"t.txt\"\n";
  const auto result = pipeline(shell_quoted(dir / "exp.toml") + " --dry-run");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_THAT(result.output, HasSubstr((dir / "exp.toml").string() + ":5:8: model.path: found directory"));
  EXPECT_THAT(result.output, HasSubstr("without config.json"));
}

TEST(Pipeline, UsageErrorsExitTwo) {
  for (const std::string& arguments :
       {std::string(""), std::string("--bogus"), shell_quoted(app_data() / "experiment.toml") + " --ranks 2"}) {
    const auto result = pipeline(arguments);
    EXPECT_EQ(result.exit_code, 2) << arguments << "\n" << result.output;
    EXPECT_THAT(result.output, HasSubstr("Try 'moqa-pipeline --help'.")) << arguments;
  }
}

TEST(Pipeline, BadOverrideExitsTwoAndNamesIt) {
  const auto result =
      pipeline(shell_quoted(app_data() / "experiment.toml") + " --dry-run --set allocation.target_bit=2.5");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_THAT(result.output, HasSubstr("--set allocation.target_bit=2.5: allocation.target_bit: found unknown key"));
  EXPECT_THAT(result.output, HasSubstr("(did you mean \"target_bits\"?)"));
}

TEST(Pipeline, SweepListsItsRunsAndChecksTheIndex) {
  const auto dir = moqa::test::temp_dir("app-sweep");
  std::ifstream base(app_data() / "experiment.toml");
  std::string text((std::istreambuf_iterator<char>(base)), std::istreambuf_iterator<char>());
  for (const char* name : {"tiny-mixtral", "text.txt"}) {
    const std::string from = moqa::cat('"', name, '"');
    const std::string to = moqa::cat('"', (app_data() / name).string(), '"');
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
      text.replace(at, from.size(), to);
  }
  text += "\n[sweep]\n\"allocation.method\" = [\"uniform\", \"moqa\"]\n\"allocation.target_bits\" = [2, 4]\n";
  std::ofstream(dir / "sweep.toml") << text;

  auto result = pipeline("sweep " + shell_quoted(dir / "sweep.toml") + " --list");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("4 runs of "));
  EXPECT_THAT(result.output, HasSubstr("  0  method-uniform_target_bits-2  allocation.method=\"uniform\", "
                                       "allocation.target_bits=2"));
  EXPECT_THAT(result.output, HasSubstr("  3  method-moqa_target_bits-4"));

  result = pipeline("sweep " + shell_quoted(dir / "sweep.toml") + " --index 3 --dry-run");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("Sweep run 3 of 4: method-moqa_target_bits-4"));
  EXPECT_THAT(result.output, HasSubstr("target_bits = 4.0"));

  result = pipeline("sweep " + shell_quoted(dir / "sweep.toml") + " --index 4");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_THAT(result.output, HasSubstr("--index 4: "));
  EXPECT_THAT(result.output, HasSubstr("has 4 runs (indices 0..3)"));
}

}  // namespace
}  // namespace moqa::pipeline
