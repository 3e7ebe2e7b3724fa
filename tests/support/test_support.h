#pragma once
// Paths and helpers shared by the tests. Assets from ../shared/assets are optional: a test that needs
// one calls MOQA_REQUIRE_ASSET, which skips with a visible reason when it is missing (never a silent pass).
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <string>

namespace moqa::test {

std::filesystem::path data_dir();    // tests/data (small goldens, committed)
std::filesystem::path assets_dir();  // $MOQA_ASSETS or ../shared/assets
std::filesystem::path source_dir();  // the project root
std::filesystem::path pipeline_exe();
// A fresh empty directory under the build tree's temp folder, removed at process exit.
std::filesystem::path temp_dir(const std::string& tag);

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
CommandResult run_command(const std::string& command_line);
// `path` as one word of a POSIX shell command line (core/shell_quote.h).
std::string shell_quoted(const std::filesystem::path& path);
// `path` as a TOML string value, for experiment files the tests write.
std::string toml_path(const std::filesystem::path& path);

// The message of the moqa::Error that `action` throws; records a test failure and returns "" when it
// throws nothing.
std::string error_of(const std::function<void()>& action);

}  // namespace moqa::test

#define MOQA_REQUIRE_ASSET(path)                                                      \
  do {                                                                                \
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "asset not found: " << (path); \
  } while (false)
