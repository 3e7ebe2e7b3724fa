// --set overrides: typed values, bare words, array-of-tables indices, and the same messages as the file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/load.h"
#include "config/override.h"
#include "config_fixture.h"

namespace moqa::config::test {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST_F(ConfigTest, OverridesSetTypedValues) {
  const Experiment e = parse(minimal(), {"allocation.target_bits=2.5", "quantization.method=rtn",
                                         "calibration.0.samples=8", "allocation.candidate_bits=[2, 3]",
                                         "runtime.stream_weights=true", "experiment.stages=[\"calibrate\"]",
                                         "quantization.group_size = 64"});
  EXPECT_DOUBLE_EQ(e.allocation.target_bits, 2.5);
  EXPECT_EQ(e.quantization.method, QuantMethod::rtn);
  EXPECT_EQ(e.calibration[0].samples, 8);
  EXPECT_EQ(e.allocation.candidate_bits, (std::vector<int>{2, 3}));
  EXPECT_TRUE(e.runtime.stream_weights);
  EXPECT_EQ(e.experiment.stages, std::vector<Stage>{Stage::calibrate});
  EXPECT_EQ(e.quantization.group_size, 64);
}

TEST_F(ConfigTest, OverrideOfAStringKeyKeepsTheTextAsTyped) {
  // "2024" would be an integer in TOML; for a string key it is the name the user typed.
  EXPECT_EQ(parse(minimal(), {"experiment.name=2024"}).experiment.name, "2024");
  EXPECT_EQ(parse(minimal(), {"experiment.description=\"quoted text\""}).experiment.description, "quoted text");
}

TEST_F(ConfigTest, OverriddenPathsAreRelativeToTheWorkingDirectory) {
  std::filesystem::create_directories(dir_ / "elsewhere");
  touch(dir_ / "elsewhere" / "x.txt", "x");
  ParseOptions o;
  o.cwd = dir_ / "elsewhere";
  o.overrides.push_back(parse_assignment("calibration.0.path=x.txt", o.cwd));
  const Experiment e = parse_experiment(minimal(), file(), o);
  EXPECT_EQ(e.calibration[0].path, dir_ / "elsewhere" / "x.txt");
  EXPECT_EQ(e.experiment.output_dir, dir_ / "elsewhere" / "results" / "t");
}

TEST_F(ConfigTest, OverrideCreatesAMissingTable) {
  EXPECT_EQ(parse(minimal(), {"runtime.threads=2"}).runtime.threads, 2);
}

TEST_F(ConfigTest, LaterOverridesWin) {
  EXPECT_EQ(parse(minimal(), {"runtime.threads=2", "runtime.threads=5"}).runtime.threads, 5);
}

TEST_F(ConfigTest, UnknownOverrideKeyIsRejectedWithAHint) {
  EXPECT_EQ(error(minimal(), {"allocation.target_btis=2"}),
            "--set allocation.target_btis=2: allocation.target_btis: found unknown key \"target_btis\", expected a "
            "key of [allocation] (did you mean \"target_bits\"?)");
  EXPECT_THAT(error(minimal(), {"alocation.target_bits=2"}),
              AllOf(StartsWith("--set alocation.target_bits=2: alocation.target_bits: found unknown key \"alocation\""),
                    HasSubstr("(did you mean \"allocation\"?)")));
}

TEST_F(ConfigTest, BadOverrideValueNamesTheOverride) {
  EXPECT_EQ(error(minimal(), {"allocation.target_bits=abc"}),
            "--set allocation.target_bits=abc: allocation.target_bits: found string \"abc\", expected a number in "
            "[1, 16]");
  EXPECT_EQ(error(minimal(), {"calibration.0.path=nothing.txt"}),
            "--set calibration.0.path=nothing.txt: calibration.0.path: found \"nothing.txt\" (" +
                (dir_ / "nothing.txt").string() + ") which does not exist, expected the path of an existing file");
}

TEST_F(ConfigTest, ArrayOfTablesOverridesNeedAValidIndex) {
  EXPECT_EQ(error(minimal(), {"calibration.3.samples=8"}),
            "--set calibration.3.samples=8: calibration.3.samples: found index 3, expected an index below 1 (the "
            "number of [[calibration]] tables)");
  EXPECT_EQ(error(minimal(), {"calibration.samples=8"}),
            "--set calibration.samples=8: calibration.samples: found \"calibration.samples\", expected "
            "calibration.<index>.<key> (e.g. calibration.0.name) because [[calibration]] is an array of tables");
  EXPECT_EQ(error(minimal(), {"runtime=3"}),
            "--set runtime=3: runtime: found \"runtime\", expected a dotted key such as allocation.target_bits");
}

TEST_F(ConfigTest, MalformedAssignment) {
  try {
    parse_assignment("allocation.target_bits", dir_);
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "--set allocation.target_bits: found \"allocation.target_bits\", expected "
                                     "key=value (for example allocation.target_bits=2.5)");
  }
}

TEST_F(ConfigTest, ApplyOverrideEditsADocument) {
  toml::table doc = toml::parse("[allocation]\nmethod = \"moqa\"\n[[calibration]]\nname = \"a\"\n");
  apply_override(doc, "allocation.target_bits=2.5");
  apply_override(doc, "calibration.0.samples=8");
  apply_override(doc, "quantization.method=rtn");
  EXPECT_EQ(doc["allocation"]["target_bits"].value<double>(), 2.5);
  EXPECT_EQ(doc["calibration"][0]["samples"].value<int64_t>(), 8);
  EXPECT_EQ(doc["quantization"]["method"].value<std::string>(), "rtn");
  EXPECT_THROW(apply_override(doc, "quantization.bits=4"), ConfigError);
  EXPECT_THROW(apply_override(doc, "sweep.allocation.target_bits=[2, 3]"), ConfigError);
}

}  // namespace
}  // namespace moqa::config::test
