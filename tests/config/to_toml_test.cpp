// to_toml prints the resolved experiment; parsing the print gives the same Experiment back.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/load.h"
#include "config/read_context.h"
#include "config/sweep.h"
#include "config/to_toml.h"
#include "config_fixture.h"

namespace moqa::config::test {
namespace {

using ::testing::HasSubstr;

TEST_F(ConfigTest, ToTomlRoundTripsTheMinimalConfig) {
  const Experiment e = parse(minimal());
  const std::string printed = to_toml(e);
  EXPECT_THAT(printed, HasSubstr("[experiment]\nname = \"t\"\nseed = 0\n"));
  EXPECT_THAT(printed, HasSubstr("tokenizer = \"" + (dir_ / "model" / "tokenizer.json").generic_string() + "\"\n"));
  EXPECT_THAT(printed, HasSubstr("fcm_tolerance = 1e-06\n"));
  EXPECT_THAT(printed, HasSubstr("channel_fraction = 0.01\n"));
  EXPECT_THAT(printed, HasSubstr("stride = 512\n"));
  EXPECT_THAT(printed, HasSubstr("distribution = \"novel\"\n"));
  const Experiment again = parse(printed);
  EXPECT_EQ(again, e);
  EXPECT_EQ(to_toml(again), printed);
}

TEST_F(ConfigTest, ToTomlRoundTripsEveryKindOfValue) {
  std::string full = minimal();
  full.replace(full.find("path = \"model\""), 14,
               "path = \"model\"\ntokenizer = \"bytes\"\ncompute_dtype = \"float16\"");
  full.insert(full.find("\n\n[model]"), "\ndescription = \"quote \\\" and \\\\ and\\nnewline\"\nseed = 123456789");
  full += "kind = \"zero_shot\"\ntask = \"arc_easy\"\nlimit = 5\n"
          "\n[allocation]\nmethod = \"moqa-v1\"\ntarget_bits = 3.3\ncandidate_bits = [8, 3, 2]\n"
          "\n[quantization]\nkeep_full_precision = []\ngroup_size = -1\n"
          "\n[sweep]\n\"runtime.threads\" = [1, 2]\n\"experiment.description\" = [\"a b\", \"c\"]\n";
  const Experiment e = parse(full);
  EXPECT_TRUE(e.model.byte_level_tokens());
  const std::string printed = to_toml(e);
  EXPECT_THAT(printed, HasSubstr("tokenizer = \"bytes\"\n"));
  EXPECT_THAT(printed, HasSubstr("description = \"quote \\\" and \\\\ and\\nnewline\"\n"));
  EXPECT_THAT(printed, HasSubstr("target_bits = 3.3\n"));
  EXPECT_THAT(printed, HasSubstr("candidate_bits = [2, 3, 8]\n"));
  EXPECT_THAT(printed, HasSubstr("keep_full_precision = []\n"));
  EXPECT_THAT(printed, HasSubstr("group_size = 0\n"));
  EXPECT_THAT(printed, HasSubstr("task = \"arc_easy\"\n"));
  EXPECT_THAT(printed, HasSubstr("[sweep]\n\"runtime.threads\" = [1, 2]\n\"experiment.description\" = [\"a b\", \"c\"]\n"));
  const Experiment again = parse(printed);
  EXPECT_EQ(again, e);
  EXPECT_EQ(expand_sweep(again).size(), 4u);
}

// add_bos is "tokenizer" or a boolean, in the file, on the command line, in a sweep and in the print.
TEST_F(ConfigTest, AddBosTakesTokenizerTrueOrFalse) {
  EXPECT_EQ(parse(minimal()).evaluation[0].add_bos, data::BosPolicy::tokenizer);
  EXPECT_EQ(parse(minimal() + "add_bos = true\n").evaluation[0].add_bos, data::BosPolicy::always);
  EXPECT_EQ(parse(minimal() + "add_bos = false\n").evaluation[0].add_bos, data::BosPolicy::never);
  EXPECT_EQ(parse(minimal() + "add_bos = \"tokenizer\"\n").evaluation[0].add_bos, data::BosPolicy::tokenizer);
  EXPECT_EQ(parse(minimal(), {"evaluation.0.add_bos=false"}).evaluation[0].add_bos, data::BosPolicy::never);
  EXPECT_EQ(parse(minimal() + "add_bos = true\n", {"evaluation.0.add_bos=tokenizer"}).evaluation[0].add_bos,
            data::BosPolicy::tokenizer);
  const auto messages = errors(minimal() + "add_bos = \"yes\"\n");
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0], where(14, 11) + ": evaluation.0.add_bos: found string \"yes\", expected \"tokenizer\", true or "
                                         "false");
  for (const char* value : {"\"tokenizer\"", "true", "false"}) {
    const Experiment e = parse(minimal() + "add_bos = " + value + "\n");
    const std::string printed = to_toml(e);
    EXPECT_THAT(printed, HasSubstr(std::string("add_bos = ") + value + "\n"));
    EXPECT_EQ(parse(printed), e);
  }
  const auto runs = expand_sweep(parse(minimal() + "\n[sweep]\n\"evaluation.0.add_bos\" = [true, false]\n"));
  ASSERT_EQ(runs.size(), 2u);
}

// channel_adjustment is "off", "cache_only" or "reallocate"; true / false (configurations from before the
// modes) read as "reallocate" / "off"; in the file, on the command line, in a sweep and in the print.
TEST_F(ConfigTest, ChannelAdjustmentTakesAModeOrABoolean) {
  const std::string text = minimal() + "\n[[calibration]]\nname = \"b\"\npath = \"data/b.txt\"\n\n[quantization]\n";
  EXPECT_EQ(parse(text).quantization.channel_adjustment, ChannelAdjustment::off);
  EXPECT_EQ(parse(text + "channel_adjustment = true\n").quantization.channel_adjustment, ChannelAdjustment::reallocate);
  EXPECT_EQ(parse(text + "channel_adjustment = false\n").quantization.channel_adjustment, ChannelAdjustment::off);
  EXPECT_EQ(parse(text + "channel_adjustment = \"cache_only\"\n").quantization.channel_adjustment,
            ChannelAdjustment::cache_only);
  EXPECT_TRUE(parse(text + "channel_adjustment = \"cache_only\"\n").quantization.caches_channels());
  EXPECT_EQ(parse(text, {"quantization.channel_adjustment=true"}).quantization.channel_adjustment,
            ChannelAdjustment::reallocate);
  EXPECT_EQ(parse(text, {"quantization.channel_adjustment=cache_only"}).quantization.channel_adjustment,
            ChannelAdjustment::cache_only);
  const auto messages = errors(text + "channel_adjustment = \"cache\"\n");
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_THAT(messages[0], HasSubstr("quantization.channel_adjustment: found string \"cache\", expected one of "
                                     "\"off\", \"cache_only\" or \"reallocate\", or true (= \"reallocate\") or false "
                                     "(= \"off\")"));
  for (const char* value : {"\"off\"", "\"cache_only\"", "\"reallocate\""}) {
    const Experiment e = parse(text + "channel_adjustment = " + value + "\n");
    const std::string printed = to_toml(e);
    EXPECT_THAT(printed, HasSubstr(std::string("channel_adjustment = ") + value + "\n"));
    EXPECT_EQ(parse(printed), e);
  }
  const auto runs = expand_sweep(
      parse(text + "\n[sweep]\n\"quantization.channel_adjustment\" = [false, \"cache_only\", \"reallocate\"]\n"));
  EXPECT_EQ(runs.size(), 3u);
}

TEST_F(ConfigTest, ToTomlOfASweepRunRecordsTheRun) {
  const std::string text = minimal() + "\n[sweep]\n\"allocation.target_bits\" = [2.5, 3.5]\n";
  const auto runs = expand_sweep(parse(text));
  const Experiment run = parse_sweep_run(text, file(), options(), runs[1], 2);
  const std::string printed = to_toml(run);
  EXPECT_THAT(printed, HasSubstr("# Sweep run 1 of 2 (target_bits-3.5): allocation.target_bits = 3.5;\n"));
  EXPECT_THAT(printed, ::testing::Not(HasSubstr("[sweep]")));
  Experiment again = parse(printed);
  again.run = run.run;  // the run's identity lives in comments, not keys
  EXPECT_EQ(again, run);
}

TEST(TomlLiteral, InlineTableKeysAreQuotedOnlyWhenTheyMustBe) {
  const toml::table doc = toml::parse("x = { \"a b\" = 1, c-d = \"e\", \"\" = true }");
  const std::string literal = toml_literal(*doc.get("x"));
  EXPECT_EQ(literal, "{ \"\" = true, \"a b\" = 1, c-d = \"e\" }");
  EXPECT_EQ(toml_literal(*toml::parse("y = " + literal).get("y")), literal);
}

}  // namespace
}  // namespace moqa::config::test
