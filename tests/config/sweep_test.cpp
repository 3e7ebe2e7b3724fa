// [sweep]: cartesian product in a documented order, each run validated on its own.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/load.h"
#include "config/sweep.h"
#include "config_fixture.h"

namespace moqa::config::test {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::vector<std::string> suffixes(const std::vector<SweepRun>& runs) {
  std::vector<std::string> out;
  for (const auto& run : runs) out.push_back(run.suffix);
  return out;
}

TEST_F(ConfigTest, SweepExpandsInFileOrderLastAxisFastest) {
  const std::string text = minimal() +
                           "\n[sweep]\n"
                           "\"quantization.method\" = [\"rtn\", \"gptq\"]\n"
                           "\"allocation.target_bits\" = [2.5, 3, 3.5]\n";
  const Experiment base = parse(text);
  ASSERT_EQ(base.sweep.size(), 2u);
  EXPECT_EQ(base.sweep[0].key, "quantization.method");  // file order, not alphabetical
  EXPECT_EQ(base.sweep[1].values, (std::vector<std::string>{"2.5", "3", "3.5"}));
  EXPECT_EQ(base.sweep[1].origins[2], where(17, 37));

  const auto runs = expand_sweep(base);
  EXPECT_EQ(suffixes(runs),
            (std::vector<std::string>{"method-rtn_target_bits-2.5", "method-rtn_target_bits-3",
                                      "method-rtn_target_bits-3.5", "method-gptq_target_bits-2.5",
                                      "method-gptq_target_bits-3", "method-gptq_target_bits-3.5"}));
  for (size_t i = 0; i < runs.size(); ++i) EXPECT_EQ(runs[i].index, static_cast<int64_t>(i));
  ASSERT_EQ(runs[4].overrides.size(), 2u);
  EXPECT_EQ(runs[4].overrides[0].key, "quantization.method");
  EXPECT_EQ(runs[4].overrides[0].value, "\"gptq\"");
  EXPECT_EQ(runs[4].overrides[1].value, "3");

  const Experiment run = parse_sweep_run(text, file(), options(), runs[4], static_cast<int64_t>(runs.size()));
  EXPECT_EQ(run.quantization.method, QuantMethod::gptq);
  EXPECT_DOUBLE_EQ(run.allocation.target_bits, 3.0);
  EXPECT_TRUE(run.sweep.empty());
  EXPECT_EQ(run.run.index, 4);
  EXPECT_EQ(run.run.count, 6);
  EXPECT_EQ(run.experiment.output_dir, dir_ / "results" / "t" / "method-gptq_target_bits-3");
}

TEST_F(ConfigTest, SweepAcceptsTomlDottedKeysAndIndices) {
  const std::string text = minimal() +
                           "\n[sweep]\n"
                           "calibration.0.samples = [4, 8]\n"
                           "runtime.threads = [1]\n";
  const Experiment base = parse(text);
  const auto runs = expand_sweep(base);
  EXPECT_EQ(suffixes(runs), (std::vector<std::string>{"samples-4_threads-1", "samples-8_threads-1"}));
  EXPECT_EQ(parse_sweep_run(text, file(), options(), runs[1], 2).calibration[0].samples, 8);
}

TEST_F(ConfigTest, SweepAxesSharingALastComponentUseTheFullKey) {
  std::string text = minimal();
  text.insert(text.find("\n[[evaluation]]"), "[[calibration]]\nname = \"b\"\npath = \"data/b.txt\"\n\n");
  text += "\n[sweep]\n\"calibration.0.samples\" = [4]\n\"calibration.1.samples\" = [8, 16]\n";
  EXPECT_EQ(suffixes(expand_sweep(parse(text))),
            (std::vector<std::string>{"calibration.0.samples-4_calibration.1.samples-8",
                                      "calibration.0.samples-4_calibration.1.samples-16"}));
}

TEST_F(ConfigTest, SweepCommandLineOverridesWin) {
  const std::string text = minimal() + "\n[sweep]\n\"runtime.threads\" = [1, 2]\n";
  const auto runs = expand_sweep(parse(text));
  EXPECT_EQ(parse_sweep_run(text, file(), options({"runtime.threads=7"}), runs[0], 2).runtime.threads, 7);
}

TEST_F(ConfigTest, NoSweepIsOneRun) {
  const auto runs = expand_sweep(parse(minimal()));
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_TRUE(runs[0].overrides.empty());
  EXPECT_EQ(runs[0].suffix, "");
}

TEST_F(ConfigTest, SweepKeysAreCheckedLikeOverrides) {
  EXPECT_THAT(error(minimal() + "\n[sweep]\n\"allocation.target_bit\" = [2, 3]\n"),
              AllOf(StartsWith(where(16, 1) + ": sweep.allocation.target_bit: found unknown key \"target_bit\""),
                    HasSubstr("(did you mean \"target_bits\"?)")));
  EXPECT_EQ(error(minimal() + "\n[sweep]\n\"allocation.target_bits\" = 3\n"),
            where(16, 28) + ": sweep.allocation.target_bits: found integer 3, expected a non-empty array of values");
  EXPECT_EQ(error(minimal() + "\n[sweep]\n\"allocation.target_bits\" = [3, 3]\n"),
            where(16, 32) + ": sweep.allocation.target_bits: found integer 3 twice, expected each value at most once");
}

TEST_F(ConfigTest, SweepOfTooManyRunsIsRejected) {
  std::string values = "[";
  for (int i = 1; i <= 100; ++i) values += (i > 1 ? ", " : "") + std::to_string(i);
  values += "]";
  std::string text = minimal() + "\n[sweep]\n";
  for (const char* key :
       {"calibration.0.samples", "calibration.0.seq_len", "calibration.0.max_tokens", "evaluation.0.limit"})
    text += cat('"', key, "\" = ", values, "\n");
  EXPECT_EQ(error(text), where(15, 1) + ": sweep: found more than 1000000 runs (the product of the value counts), "
                                        "expected at most 1000000");
}

TEST_F(ConfigTest, EveryRunOfASweepMustValidate) {
  const auto path = file();
  touch(path, minimal() + "\n[sweep]\n\"allocation.method\" = [\"moqa\", \"uniform\"]\n"
                          "\"allocation.target_bits\" = [3, 2.5]\n");
  try {
    load_experiment(path, options());
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.messages().size(), 1u) << e.what();
    EXPECT_EQ(e.messages()[0],
              where(17, 32) + ": allocation.target_bits: found 2.5 with method = \"uniform\", expected one of the "
                              "widths 2, 3, 4, 6 or 8 [sweep run 3 of 4: allocation.method=\"uniform\", "
                              "allocation.target_bits=2.5]");
  }
}

TEST_F(ConfigTest, SweepOfAValidFileLoads) {
  touch(file(), minimal() + "\n[sweep]\n\"allocation.target_bits\" = [2.5, 3.5]\n");
  const Experiment e = load_experiment(file(), options());
  EXPECT_EQ(expand_sweep(e).size(), 2u);
}

}  // namespace
}  // namespace moqa::config::test
