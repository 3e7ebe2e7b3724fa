#pragma once
// Paths and helpers shared by the tests. Assets from ../shared/assets are optional for people running the
// suite without them: a test that needs one calls MOQA_REQUIRE_ASSET, which skips with a visible reason when
// it is missing (never a silent pass). In CI (CI=true in the environment; .ci/run sets it) the assets and
// every tool scripts/install-deps.sh installs are always present, so there a missing one fails the test.
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
// The command-line prefix that starts `ranks` MPI processes (mpiexec -n ranks with the suite's flags, e.g.
// --oversubscribe), for tests that run moqa-pipeline end to end.
std::string mpiexec(int ranks);
// `path` as one word of a POSIX shell command line (core/shell_quote.h).
std::string shell_quoted(const std::filesystem::path& path);
// `path` as a TOML string value, for experiment files the tests write.
std::string toml_path(const std::filesystem::path& path);

// The message of the moqa::Error that `action` throws; records a test failure and returns "" when it
// throws nothing.
std::string error_of(const std::function<void()>& action);

// True when the environment variable CI is set to anything but "", "0" or "false" (GitHub Actions, GitLab
// and .ci/run set CI=true). There a missing asset or tool is a failure, not a skip.
bool running_in_ci();
// The message for a requirement that is not met: what is missing, and why it fails in CI or how to provide
// it elsewhere.
std::string unmet_requirement(const std::string& what);

}  // namespace moqa::test

// Skips the test (fails it in CI) when `condition` is false; `what` names what is missing and what is
// therefore not tested. For the optional tools of scripts/install-deps.sh (python3 with numpy, h5py,
// matplotlib) and other things CI always has. Only in a function returning void (a TEST body).
#define MOQA_REQUIRE(condition, what)                                                     \
  do {                                                                                    \
    if (!(condition)) {                                                                   \
      if (::moqa::test::running_in_ci()) FAIL() << ::moqa::test::unmet_requirement(what); \
      GTEST_SKIP() << ::moqa::test::unmet_requirement(what);                              \
    }                                                                                     \
  } while (false)

// A file or folder under assets_dir() (or anywhere) the test cannot run without.
#define MOQA_REQUIRE_ASSET(asset)                                      \
  do {                                                                 \
    const ::std::filesystem::path moqa_required_asset_ = (asset);      \
    MOQA_REQUIRE(::std::filesystem::exists(moqa_required_asset_),      \
                 "asset not found: " + moqa_required_asset_.string()); \
  } while (false)
