#pragma once
// Path values of an experiment: ${VAR} expansion from the environment, then resolution against the
// directory of whatever wrote them (the TOML file's directory, or the working directory for --set).
#include <filesystem>
#include <string>
#include <string_view>

namespace moqa::config {

struct Expansion {
  std::string text;
  std::string error;  // non-empty: what went wrong ("undefined environment variable HOME2")
};

// Replaces every ${NAME} by the environment variable NAME. An undefined variable is an error rather
// than an empty string: "${DATA}/wiki.txt" silently becoming "/wiki.txt" would be a worse failure.
Expansion expand_environment(std::string_view text);

// `path` if absolute, else base_dir / path; lexically normalised.
std::filesystem::path resolve_path(const std::filesystem::path& path, const std::filesystem::path& base_dir);

}  // namespace moqa::config
