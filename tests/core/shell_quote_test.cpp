// shell_quote: what /provenance/command and the tests' command lines rely on.
#include "core/shell_quote.h"

#include <gtest/gtest.h>

#include <string>

#include "support/test_support.h"

namespace moqa {
namespace {

TEST(ShellQuote, PlainWordsStayAsTheyAre) {
  EXPECT_EQ(shell_quote("mpirun"), "mpirun");
  EXPECT_EQ(shell_quote("--set=allocation.target_bits=2.5"), "--set=allocation.target_bits=2.5");
  EXPECT_EQ(shell_quote("/data/models/Mixtral-8x7B_v0.1,a+b@c%d"), "/data/models/Mixtral-8x7B_v0.1,a+b@c%d");
}

TEST(ShellQuote, EverythingElseIsQuoted) {
  EXPECT_EQ(shell_quote(""), "''");
  EXPECT_EQ(shell_quote("a b"), "'a b'");
  EXPECT_EQ(shell_quote("experiment.stages=[\"allocate\"]"), "'experiment.stages=[\"allocate\"]'");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(shell_quote("$HOME"), "'$HOME'");
}

// A shell reads every quoted word back as the original, whatever it holds.
TEST(ShellQuote, TheShellReadsTheWordBack) {
  for (const std::string word : {"plain", "two words", "it's", "tab\there", "$(echo no)", "back\\slash", "*", ""}) {
    const test::CommandResult r = test::run_command("printf '%s' " + shell_quote(word));
    EXPECT_EQ(r.exit_code, 0) << word;
    EXPECT_EQ(r.output, word);
  }
}

}  // namespace
}  // namespace moqa
