#include "config/override.h"

#include <algorithm>
#include <charconv>

#include "config/diagnostics.h"
#include "config/read_context.h"
#include "config/schema.h"

namespace moqa::config {
namespace {

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

std::vector<std::string> split_dots(std::string_view dotted) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t dot = dotted.find('.', start);
    parts.emplace_back(dotted.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) return parts;
    start = dot + 1;
  }
}

[[noreturn]] void fail_override(const Override& override, std::string_view message) {
  throw ConfigError({cat(override.origin, ": ", override.key, ": ", message)});
}

// The value as a one-entry document "value = ...", so that the node carries `origin` as its source.
// Text that is not a TOML value, and any non-string value for a string key, is taken as a string.
toml::table parse_value(const Override& override, bool string_valued) {
  const std::string_view text = trim(override.value);
  try {
    toml::table parsed = toml::parse(cat("value = ", text), std::string(override.origin));
    const toml::node* value = parsed.get("value");
    if (parsed.size() == 1 && value && (!string_valued || value->is_string())) return parsed;
  } catch (const toml::parse_error&) {
    // Not TOML: a bare word.
  }
  return toml::parse(cat("value = ", toml_string_literal(text)), std::string(override.origin));
}

}  // namespace

Override parse_assignment(std::string_view assignment, const std::filesystem::path& base_dir) {
  Override override;
  override.origin = cat("--set ", assignment);
  const size_t equals = assignment.find('=');
  if (equals == std::string_view::npos || trim(assignment.substr(0, equals)).empty())
    throw ConfigError({cat(override.origin, ": found \"", assignment,
                           "\", expected key=value (for example allocation.target_bits=2.5)")});
  override.key = trim(assignment.substr(0, equals));
  override.value = assignment.substr(equals + 1);
  override.base_dir = base_dir;
  return override;
}

std::optional<OverrideTarget> parse_override_key(std::string_view dotted, std::string& problem) {
  const std::vector<std::string> parts = split_dots(dotted);
  if (parts.size() < 2 || std::any_of(parts.begin(), parts.end(), [](const auto& p) { return p.empty(); })) {
    problem = cat("found \"", dotted, "\", expected a dotted key such as allocation.target_bits");
    return std::nullopt;
  }
  OverrideTarget target;
  target.section = parts[0];
  if (target.section == kSweepSection) {
    problem = "found a [sweep] entry, expected a key of the experiment (sweeps cannot be set from outside)";
    return std::nullopt;
  }
  const auto sections = section_names();
  if (std::find(sections.begin(), sections.end(), target.section) == sections.end()) {
    problem = unknown_key_message("", target.section);
    return std::nullopt;
  }
  size_t next = 1;
  if (is_array_section(target.section)) {
    size_t index = 0;
    const std::string& text = parts[1];
    const auto result = std::from_chars(text.data(), text.data() + text.size(), index);
    if (result.ec != std::errc() || result.ptr != text.data() + text.size()) {
      problem = cat("found \"", dotted, "\", expected ", target.section, ".<index>.<key> (e.g. ", target.section,
                    ".0.", keys_of(target.section).front(), ") because [[", target.section,
                    "]] is an array of tables");
      return std::nullopt;
    }
    target.index = index;
    next = 2;
  }
  if (parts.size() != next + 1) {
    problem = cat("found \"", dotted, "\", expected ", target.section, target.index ? ".<index>" : "", ".<key>");
    return std::nullopt;
  }
  target.key = parts[next];
  for (const auto& info : schema_keys()) {
    if (info.section == target.section && info.key == target.key) {
      target.string_valued = info.string_valued;
      return target;
    }
  }
  problem = unknown_key_message(target.section, target.key);
  return std::nullopt;
}

void apply_override(toml::table& doc, const Override& override) {
  std::string problem;
  const auto target = parse_override_key(override.key, problem);
  if (!target) fail_override(override, problem);

  toml::table* section = nullptr;
  toml::node* existing = doc.get(target->section);
  if (target->index) {
    const toml::array* array = existing ? existing->as_array() : nullptr;
    const size_t count = array && array->is_array_of_tables() ? array->size() : 0;
    if (*target->index >= count)
      fail_override(override, cat("found index ", *target->index, ", expected an index below ", count,
                                  " (the number of [[", target->section, "]] tables)"));
    section = existing->as_array()->get(*target->index)->as_table();
  } else {
    if (!existing) {
      doc.insert(target->section, toml::table{});
      existing = doc.get(target->section);
    }
    section = existing->as_table();
    if (!section)
      fail_override(override, cat("found [", target->section, "] as ", describe_node(*existing), ", expected a table"));
  }

  toml::table parsed = parse_value(override, target->string_valued);
  // Moving (not copying) keeps the node's source region, which names the override in messages.
  parsed.get("value")->visit([&](auto& value) { section->insert_or_assign(target->key, std::move(value)); });
}

void apply_override(toml::table& doc, std::string_view assignment) {
  apply_override(doc, parse_assignment(assignment, std::filesystem::current_path()));
}

}  // namespace moqa::config
