#pragma once
// Configuration errors are collected, not thrown one at a time: a user fixing a TOML sees every problem
// at once. Each message reads "<where>: <dotted.key>: <found>, expected <what>", where <where> is
// "file:line:column" for values from the file and e.g. "--set a.b=c" for command-line overrides.
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace moqa::config {

// All problems of one configuration; what() is the messages joined by newlines.
class ConfigError : public moqa::Error {
 public:
  explicit ConfigError(std::vector<std::string> messages);
  const std::vector<std::string>& messages() const { return messages_; }

 private:
  std::vector<std::string> messages_;
};

// A place in the input. `line` is 0 when there is no position (command-line overrides).
struct Location {
  std::string origin;  // the file name as the user gave it, or "--set key=value"
  int64_t line = 0;
  int64_t column = 0;
  std::string str() const;
};

class Diagnostics {
 public:
  void error(const Location& where, std::string_view key, std::string_view message);
  // A message already in the "<where>: <key>: ..." form (e.g. from a ConfigError of a sub-step).
  void add(const Location& where, std::string text);
  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  // Messages ordered by position (positionless ones first, in the order they were reported).
  std::vector<std::string> messages() const;
  void throw_if_any() const;  // throws ConfigError

 private:
  struct Entry {
    Location where;
    std::string text;
  };
  std::vector<Entry> entries_;
};

// The candidate closest to `word` by edit distance, or "" when none is close enough to be a likely typo.
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

// `a, b or c`: for "expected one of ..." messages; quoted_list quotes each item: `"a", "b" or "c"`.
std::string alternatives(const std::vector<std::string>& items);
std::string quoted_list(const std::vector<std::string>& items);

}  // namespace moqa::config
