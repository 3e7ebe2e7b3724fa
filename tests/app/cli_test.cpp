// Command-line parsing (no process started): commands, options, and the usage errors.
#include <gtest/gtest.h>

#include "app/cli.h"
#include "core/build_info.h"

namespace moqa::app {
namespace {

CliOptions parse(std::vector<const char*> args) {
  args.insert(args.begin(), "moqa-pipeline");
  return parse_command_line(static_cast<int>(args.size()), args.data());
}

TEST(Cli, RunWithEveryOption) {
  const CliOptions cli = parse({"exp.toml", "--set", "allocation.target_bits=2.5", "-s", "quantization.method=rtn",
                                "--dry-run", "--ranks", "4", "--output", "out/dir"});
  EXPECT_EQ(cli.command, Command::run);
  EXPECT_EQ(cli.experiment, "exp.toml");
  EXPECT_EQ(cli.sets, (std::vector<std::string>{"allocation.target_bits=2.5", "quantization.method=rtn"}));
  EXPECT_TRUE(cli.dry_run);
  EXPECT_EQ(cli.ranks, 4);
  EXPECT_EQ(cli.output, std::filesystem::path("out/dir"));
  EXPECT_FALSE(cli.list_runs);
  EXPECT_FALSE(cli.run_index.has_value());
}

TEST(Cli, OptionsMayComeBeforeTheExperiment) {
  const CliOptions cli = parse({"-n", "--set=runtime.threads=2", "exp.toml"});
  EXPECT_TRUE(cli.dry_run);
  EXPECT_EQ(cli.experiment, "exp.toml");
  EXPECT_EQ(cli.sets, std::vector<std::string>{"runtime.threads=2"});
}

TEST(Cli, SweepCommand) {
  CliOptions cli = parse({"sweep", "exp.toml", "--list"});
  EXPECT_EQ(cli.command, Command::sweep);
  EXPECT_TRUE(cli.list_runs);
  cli = parse({"sweep", "exp.toml", "--index", "3"});
  EXPECT_EQ(cli.run_index, 3);
}

TEST(Cli, HelpAndVersionWinOverEverythingElse) {
  EXPECT_EQ(parse({"--help"}).command, Command::help);
  EXPECT_EQ(parse({"exp.toml", "-h"}).command, Command::help);
  EXPECT_EQ(parse({"--version"}).command, Command::version);
}

TEST(Cli, UsageErrors) {
  EXPECT_THROW(parse({}), UsageError);
  EXPECT_THROW(parse({"a.toml", "b.toml"}), UsageError);
  EXPECT_THROW(parse({"exp.toml", "--bogus"}), UsageError);
  EXPECT_THROW(parse({"exp.toml", "--ranks", "2"}), UsageError);  // --ranks needs --dry-run
  EXPECT_THROW(parse({"exp.toml", "--dry-run", "--ranks", "0"}), UsageError);
  EXPECT_THROW(parse({"exp.toml", "--ranks", "two", "--dry-run"}), UsageError);
  EXPECT_THROW(parse({"exp.toml", "--list"}), UsageError);  // sweep options without the sweep command
  EXPECT_THROW(parse({"sweep", "exp.toml"}), UsageError);
  EXPECT_THROW(parse({"sweep", "exp.toml", "--list", "--index", "1"}), UsageError);
  EXPECT_THROW(parse({"sweep", "exp.toml", "--index", "-1"}), UsageError);
  EXPECT_THROW(parse({"exp.toml", "--set"}), UsageError);
  try {
    parse({"exp.toml", "--ranks", "2"});
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--dry-run"), std::string::npos) << e.what();
  }
}

TEST(Cli, VersionNamesTheCommit) {
  const std::string text = version_text();
  EXPECT_NE(text.find(build_info::version), std::string::npos) << text;
  EXPECT_NE(text.find(build_info::git_commit), std::string::npos) << text;
}

}  // namespace
}  // namespace moqa::app
