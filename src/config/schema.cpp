#include "config/schema.h"

#include "config/diagnostics.h"

#include <algorithm>
#include <filesystem>
#include <type_traits>

namespace moqa::config {
namespace {

template <class T>
constexpr bool is_string_valued() {
  // add_bos and channel_adjustment take true / false besides their words: a bare --set word is read as TOML first.
  return std::is_same_v<T, std::string> || std::is_same_v<T, std::filesystem::path> ||
         (std::is_enum_v<T> && !std::is_same_v<T, data::BosPolicy> && !std::is_same_v<T, ChannelAdjustment>) ||
         std::is_same_v<T, std::optional<data::TaskFormat>>;
}

// Visitor that records key names and kinds instead of reading anything.
struct KeyCollector {
  std::vector<KeyInfo> keys;
  std::string section;
  bool array_section = false;

  template <class T>
  void operator()(std::string_view key, T& /*member*/, const Rule& /*rule*/) {
    keys.push_back({section, std::string(key), array_section, is_string_valued<T>()});
  }
  template <class S>
  void table(std::string_view name, S& s, bool /*required*/) {
    section = name;
    array_section = false;
    visit(*this, s);
  }
  template <class S>
  void array(std::string_view name, std::vector<S>& /*sections*/) {
    section = name;
    array_section = true;
    S prototype;
    visit(*this, prototype);
  }
};

}  // namespace

const std::vector<KeyInfo>& schema_keys() {
  static const std::vector<KeyInfo> keys = [] {
    KeyCollector collector;
    Experiment prototype;
    visit(collector, prototype);
    return collector.keys;
  }();
  return keys;
}

std::vector<std::string> section_names() {
  std::vector<std::string> names;
  for (const auto& info : schema_keys())
    if (std::find(names.begin(), names.end(), info.section) == names.end()) names.push_back(info.section);
  names.emplace_back(kSweepSection);
  return names;
}

bool is_array_section(std::string_view section) {
  for (const auto& info : schema_keys())
    if (info.section == section) return info.array_section;
  return false;
}

std::vector<std::string> keys_of(std::string_view section) {
  std::vector<std::string> keys;
  for (const auto& info : schema_keys())
    if (info.section == section) keys.push_back(info.key);
  return keys;
}

std::string unknown_key_message(std::string_view section, std::string_view key) {
  const std::vector<std::string> known = section.empty() ? section_names() : keys_of(section);
  const std::string found = cat("found unknown key \"", key, "\", expected ");
  const std::string where = section.empty() ? std::string("a table name")
                            : is_array_section(section) ? cat("a key of [[", section, "]]")
                                                         : cat("a key of [", section, "]");
  // With a likely typo the hint says it all; otherwise list what is allowed.
  if (const std::string hint = closest_match(key, known); !hint.empty())
    return cat(found, where, " (did you mean \"", hint, "\"?)");
  // The right key in the wrong table is a common slip: point to the table that has it.
  for (const auto& info : schema_keys())
    if (info.key == key && info.section != section)
      return cat(found, where, info.array_section ? cat(" (did you mean \"", key, "\" in [[", info.section, "]]?)")
                                                  : cat(" (did you mean \"", key, "\" in [", info.section, "]?)"));
  return cat(found, "one of ", quoted_list(known));
}

}  // namespace moqa::config
