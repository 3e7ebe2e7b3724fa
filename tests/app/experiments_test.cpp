// Every experiment TOML shipped in experiments/ validates:
//  - the small ones (on ../shared/assets/trained) pass `moqa-pipeline --dry-run`, every sweep run included;
//  - the real-model ones (experiments/real), whose models and data are not here, fail only with
//    missing-path errors; once those paths exist (empty stand-in files, model folders), the experiment and
//    every run of its sweep validate, so their keys, values and sweeps are right.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "config/load.h"
#include "support/test_support.h"

namespace moqa::config {
namespace {

namespace fs = std::filesystem;
using test::shell_quoted;
using ::testing::HasSubstr;

std::vector<fs::path> tomls(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().extension() == ".toml") out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Experiments, SmallExperimentsPassDryRun) {
  MOQA_REQUIRE_ASSET(test::assets_dir() / "trained" / "mixtral-tiny" / "config.json");
  MOQA_REQUIRE_ASSET(test::assets_dir() / "trained" / "corpus_xz" / "wiki.train.txt.xz");
  const std::vector<fs::path> files = tomls(test::source_dir() / "experiments");
  const std::set<std::string> expected{"ablation_stages.toml",   "allocation_methods.toml", "quantize_everything.toml",
                                       "quickstart.toml",        "table1_perplexity.toml",  "table2_zeroshot.toml",
                                       "table3_ablation.toml"};
  std::set<std::string> found;
  for (const fs::path& f : files) found.insert(f.filename().string());
  EXPECT_EQ(found, expected);
  for (const fs::path& toml : files) {
    SCOPED_TRACE(toml.string());
    const auto run =
        test::run_command(shell_quoted(test::pipeline_exe()) + " " + shell_quoted(toml) + " --dry-run --ranks 2");
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_THAT(run.output, HasSubstr("== Stages =="));
    const auto list =
        test::run_command(shell_quoted(test::pipeline_exe()) + " sweep " + shell_quoted(toml) + " --list");
    EXPECT_EQ(list.exit_code, 0) << list.output;
  }
}

// A missing file or folder named by a validation message, and whether it must be a folder.
struct MissingPath {
  fs::path path;
  bool directory = false;
};

// The path of a "does not exist" message, or nothing for any other message.
std::optional<MissingPath> missing_path(const std::string& message) {
  static const std::regex value(
      R"re(: found "[^"]*"(?: \(([^)]*)\))? which does not exist, expected the path of an existing (file|directory))re");
  static const std::regex plain(
      R"re(: found "([^"]*)" which does not exist, expected the path of an existing (file|directory))re");
  static const std::regex tokenizer(R"re(model\.tokenizer: missing, and the default "([^"]*)" does not exist)re");
  std::smatch m;
  if (std::regex_search(message, m, value) && m[1].matched) return MissingPath{m[1].str(), m[2] == "directory"};
  if (std::regex_search(message, m, plain)) return MissingPath{m[1].str(), m[2] == "directory"};
  if (std::regex_search(message, m, tokenizer)) return MissingPath{m[1].str(), false};
  return std::nullopt;
}

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_)
      setenv(name_, old_->c_str(), 1);
    else
      unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(Experiments, RealModelExperimentsFailOnlyOnMissingPathsAndValidateOnceTheyExist) {
  // Their evaluation files (and C4 calibration text) are the real ones of ../shared/assets/eval, named
  // relative to the TOML; only the models and WikiText-2's training split come from MOQA_MODELS / MOQA_DATA.
  MOQA_REQUIRE_ASSET(test::source_dir().parent_path() / "shared" / "assets" / "eval");
  const std::vector<fs::path> files = tomls(test::source_dir() / "experiments" / "real");
  ASSERT_EQ(files.size(), 5u);
  for (const fs::path& toml : files) {
    SCOPED_TRACE(toml.string());
    const fs::path root = test::temp_dir("experiments-real-" + toml.stem().string());
    const ScopedEnv models("MOQA_MODELS", (root / "models").string());
    const ScopedEnv data("MOQA_DATA", (root / "data").string());
    // Each round reports the paths still missing (the sweep's runs are validated once the base experiment
    // is valid, and may name further model folders); stand-ins are created until nothing is missing.
    bool valid = false;
    int missing_reported = 0;
    for (int round = 0; round < 6 && !valid; ++round) {
      try {
        const Experiment e = load_experiment(toml);
        EXPECT_FALSE(e.sweep.empty());
        valid = true;
      } catch (const ConfigError& error) {
        for (const std::string& message : error.messages()) {
          const std::optional<MissingPath> missing = missing_path(message);
          ASSERT_TRUE(missing.has_value()) << "not a missing-path error: " << message;
          ASSERT_EQ(missing->path.string().rfind(root.string(), 0), 0u) << "a path outside MOQA_MODELS / MOQA_DATA: "
                                                                         << message;
          ++missing_reported;
          if (missing->directory) {
            fs::create_directories(missing->path);
            std::ofstream(missing->path / "config.json");  // a model folder: validation only needs it to exist
          } else {
            fs::create_directories(missing->path.parent_path());
            std::ofstream(missing->path).flush();
          }
        }
      }
    }
    EXPECT_TRUE(valid);
    EXPECT_GT(missing_reported, 0);
  }
}

// experiments/sweeps/: the free-parameter sweeps (table1's setting, one parameter each) validate and list.
TEST(Experiments, SweepsPassDryRun) {
  MOQA_REQUIRE_ASSET(test::assets_dir() / "trained" / "mixtral-tiny" / "config.json");
  const std::vector<fs::path> files = tomls(test::source_dir() / "experiments" / "sweeps");
  std::set<std::string> found;
  for (const fs::path& f : files) found.insert(f.filename().string());
  EXPECT_EQ(found, (std::set<std::string>{"calibration_windows.toml", "channel_fraction.toml",
                                          "fit_and_reweighting.toml", "fuzzifier.toml", "overlap_margin.toml"}));
  for (const fs::path& toml : files) {
    SCOPED_TRACE(toml.string());
    const auto run =
        test::run_command(shell_quoted(test::pipeline_exe()) + " " + shell_quoted(toml) + " --dry-run --ranks 2");
    EXPECT_EQ(run.exit_code, 0) << run.output;
    const auto list =
        test::run_command(shell_quoted(test::pipeline_exe()) + " sweep " + shell_quoted(toml) + " --list");
    EXPECT_EQ(list.exit_code, 0) << list.output;
    EXPECT_THAT(list.output, HasSubstr(" runs of "));
  }
}

}  // namespace
}  // namespace moqa::config
