#pragma once
// Overrides of single keys: `--set allocation.target_bits=2.5`, `--set calibration.0.samples=8`, and the
// assignments a [sweep] run makes. They edit the parsed TOML document before it is read, so an
// overridden value is validated exactly like one written in the file.
#include <toml++/toml.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace moqa::config {

struct Override {
  std::string key;    // dotted: "allocation.target_bits", "calibration.0.samples"
  std::string value;  // TOML value text; a bare word that is not TOML ("gptq", "../x") is a string
  std::string origin; // shown in messages: "--set allocation.target_bits=2.5" or "exp.toml:40:17"
  std::filesystem::path base_dir;  // relative paths in the value resolve against this directory
};

// "key=value" from the command line; relative paths in it resolve against `base_dir` (the working
// directory). Throws ConfigError when there is no '=' or the key is empty.
Override parse_assignment(std::string_view assignment, const std::filesystem::path& base_dir);

// Where a dotted key points in the schema.
struct OverrideTarget {
  std::string section;          // "calibration"
  std::optional<size_t> index;  // array-of-tables element
  std::string key;              // "samples"
  bool string_valued = false;   // strings, paths, enum names
};

// Checks a dotted key against the schema. On failure returns nullopt and sets `problem` to a message
// in the usual form ("found unknown key ..., expected ... (did you mean ...?)").
std::optional<OverrideTarget> parse_override_key(std::string_view dotted, std::string& problem);

// Sets one key in `doc`. The value keeps `override.origin` as its source so that later messages about
// it name the override. Throws ConfigError (unknown key, index out of range, table of the wrong type).
void apply_override(toml::table& doc, const Override& override);
// Convenience for "key=value" typed on the command line (origin "--set key=value", paths relative to
// the working directory).
void apply_override(toml::table& doc, std::string_view assignment);

}  // namespace moqa::config
