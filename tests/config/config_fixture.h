#pragma once
// A scratch directory with a fake model (config.json + tokenizer.json) and small data files, and
// helpers to parse experiment text "written" at <dir>/exp.toml, so each test states its whole input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/load.h"
#include "support/test_support.h"

namespace moqa::config::test {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = moqa::test::temp_dir("config");
    std::filesystem::create_directories(dir_ / "model");
    std::filesystem::create_directories(dir_ / "data");
    touch(dir_ / "model" / "config.json", "{}");
    touch(dir_ / "model" / "tokenizer.json", "{}");
    touch(dir_ / "data" / "a.txt", "alpha\n");
    touch(dir_ / "data" / "b.txt", "beta\n");
    touch(dir_ / "data" / "c.jsonl", "{\"text\": \"gamma\"}\n");
    touch(dir_ / "data" / "d.jsonl.xz", "not really xz");
  }

  static void touch(const std::filesystem::path& path, const std::string& text) {
    std::ofstream(path) << text;
  }

  std::filesystem::path file() const { return dir_ / "exp.toml"; }
  std::string where(int line, int column) const {
    return file().string() + ":" + std::to_string(line) + ":" + std::to_string(column);
  }

  ParseOptions options(std::vector<std::string> sets = {}) const {
    ParseOptions o;
    o.cwd = dir_;
    for (const auto& s : sets) o.overrides.push_back(parse_assignment(s, dir_));
    return o;
  }

  Experiment parse(const std::string& text, std::vector<std::string> sets = {}) const {
    return parse_experiment(text, file(), options(std::move(sets)));
  }

  // The messages of the ConfigError that parsing `text` must throw.
  std::vector<std::string> errors(const std::string& text, std::vector<std::string> sets = {}) const {
    try {
      parse(text, std::move(sets));
    } catch (const ConfigError& e) {
      return e.messages();
    }
    ADD_FAILURE() << "expected a ConfigError for:\n" << text;
    return {};
  }

  // The single message parsing `text` must produce.
  std::string error(const std::string& text, std::vector<std::string> sets = {}) const {
    const auto messages = errors(text, std::move(sets));
    EXPECT_EQ(messages.size(), 1u) << ::testing::PrintToString(messages);
    return messages.empty() ? std::string() : messages.front();
  }

  // A valid experiment: every later test edits one thing of it. Line numbers matter to the tests:
  //  1 [experiment]   2 name   3 (blank)   4 [model]   5 path   6 (blank)   7 [[calibration]]   8 name
  //  9 path   10 (blank)   11 [[evaluation]]   12 name   13 path
  static std::string minimal() {
    return "[experiment]\n"
           "name = \"t\"\n"
           "\n"
           "[model]\n"
           "path = \"model\"\n"
           "\n"
           "[[calibration]]\n"
           "name = \"a\"\n"
           "path = \"data/a.txt\"\n"
           "\n"
           "[[evaluation]]\n"
           "name = \"e\"\n"
           "path = \"data/b.txt\"\n";
  }

  std::filesystem::path dir_;
};

}  // namespace moqa::config::test
