#pragma once
// Internal to the config module: state shared by reading (read.cpp) and cross-checking (validate.cpp)
// one experiment document: where each key came from, which keys were present or invalid, and how
// relative paths of each origin resolve.
#include <toml++/toml.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "config/diagnostics.h"

namespace moqa::config {

// Where a TOML node was parsed from: the experiment file itself, or one --set / sweep override.
struct Origin {
  std::string display;             // the file name, or "--set key=value"
  std::filesystem::path base_dir;  // what relative paths written there are relative to
  bool positional = true;          // line:column are meaningful (false for override snippets)
};

class ReadContext {
 public:
  ReadContext(Diagnostics& diagnostics, std::string file_label, std::filesystem::path file_dir,
              std::filesystem::path cwd, bool check_paths);

  // Nodes whose source path is `source_name` came from `origin`.
  void add_origin(const std::string& source_name, Origin origin);

  Location where(const toml::node& node) const;
  Location where(const toml::key& key) const;
  // The recorded location of a dotted key, else of its closest recorded parent, else the file start.
  Location where(std::string_view dotted_key) const;
  Location file_start() const { return {file_label_, 1, 1}; }
  const std::filesystem::path& base_dir(const toml::node& node) const;

  // Records that `dotted_key` is present (with its location).
  void note(const std::string& dotted_key, const toml::node& node);
  bool present(std::string_view dotted_key) const { return locations_.count(std::string(dotted_key)) > 0; }
  // Reports a problem with `dotted_key`; later cross-checks skip keys that are already wrong.
  void error(const Location& where, const std::string& dotted_key, std::string_view message);
  bool valid(std::string_view dotted_key) const { return invalid_.count(std::string(dotted_key)) == 0; }

  bool check_paths() const { return check_paths_; }
  const std::filesystem::path& cwd() const { return cwd_; }
  const std::filesystem::path& file_dir() const { return file_dir_; }
  const std::string& file_label() const { return file_label_; }

 private:
  const Origin* origin_of(const toml::source_region& source) const;
  Location locate(const toml::source_region& source) const;

  Diagnostics& diagnostics_;
  std::string file_label_;
  std::filesystem::path file_dir_;
  std::filesystem::path cwd_;
  bool check_paths_;
  std::map<std::string, Origin> origins_;
  std::map<std::string, Location> locations_;
  std::set<std::string> invalid_;
};

// A TOML node as TOML text: strings quoted and escaped, floats in shortest round-trip form, arrays and
// inline tables recursively. Used by to_toml, sweep literals and "found ..." messages.
std::string toml_literal(const toml::node& node);
std::string toml_string_literal(std::string_view text);
std::string toml_key(std::string_view key);  // bare when TOML allows it, else quoted
std::string toml_float_literal(double value);
// "string \"abc\"", "integer 5", "array [1, 2]": what a message says was found.
std::string describe_node(const toml::node& node);

}  // namespace moqa::config
