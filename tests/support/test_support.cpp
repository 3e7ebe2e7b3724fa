#include "support/test_support.h"

#include "config/read_context.h"
#include "core/error.h"
#include "core/shell_quote.h"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sys/wait.h>

namespace moqa::test {

std::filesystem::path data_dir() { return MOQA_TEST_DATA_DIR; }

std::filesystem::path assets_dir() {
  if (const char* env = std::getenv("MOQA_ASSETS")) return env;
  return MOQA_ASSETS_DIR;
}

std::filesystem::path source_dir() { return MOQA_SOURCE_DIR; }
std::filesystem::path pipeline_exe() { return MOQA_PIPELINE_EXE; }

namespace {
struct TempRoot {
  std::filesystem::path path;
  TempRoot() {
    path = std::filesystem::temp_directory_path() / ("moqa-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(path);
  }
  ~TempRoot() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};
}  // namespace

std::filesystem::path temp_dir(const std::string& tag) {
  static TempRoot root;  // one per test process, removed at exit
  static int counter = 0;
  auto dir = root.path / (tag + "-" + std::to_string(counter++));
  std::filesystem::create_directories(dir);
  return dir;
}

std::string mpiexec(int ranks) {
  return std::string(MOQA_MPIEXEC) + " " + std::to_string(ranks) + " " + MOQA_MPIEXEC_FLAGS;
}

CommandResult run_command(const std::string& command_line) {
  CommandResult result;
  const std::string full = command_line + " 2>&1";
  FILE* pipe = ::popen(full.c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buffer{};
  size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::string shell_quoted(const std::filesystem::path& path) { return shell_quote(path.string()); }

std::string toml_path(const std::filesystem::path& path) { return config::toml_string_literal(path.string()); }

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const moqa::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a moqa::Error";
  return "";
}

bool running_in_ci() {
  const char* value = std::getenv("CI");
  if (!value) return false;
  const std::string v = value;
  return !(v.empty() || v == "0" || v == "false" || v == "FALSE" || v == "False");
}

std::string unmet_requirement(const std::string& what) {
  if (running_in_ci())
    return what +
           " -- a failure because CI is set: CI always has ../shared/assets and what "
           "scripts/install-deps.sh installs";
  return what +
         " -- test SKIPPED, not passed (assets: set MOQA_ASSETS or provide ../shared/assets; tools: "
         "bash scripts/install-deps.sh)";
}

}  // namespace moqa::test
