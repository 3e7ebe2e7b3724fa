#include "config/read.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <utility>

#include "config/override.h"
#include "config/paths.h"
#include "config/schema.h"

namespace moqa::config {
namespace {

std::string number_text(double value) {
  if (value == std::floor(value) && std::fabs(value) < 1e15) return std::to_string(static_cast<int64_t>(value));
  return toml_float_literal(value);
}

std::string range_text(const Rule& rule) {
  if (rule.min && rule.max)
    return cat(" in ", rule.min_exclusive ? "(" : "[", number_text(*rule.min), ", ", number_text(*rule.max), "]");
  if (rule.min) return cat(rule.min_exclusive ? " > " : " >= ", number_text(*rule.min));
  if (rule.max) return cat(" <= ", number_text(*rule.max));
  return "";
}

bool in_range(double value, const Rule& rule) {
  if (rule.min && (rule.min_exclusive ? value <= *rule.min : value < *rule.min)) return false;
  if (rule.max && value > *rule.max) return false;
  return true;
}

std::string ints_text(const std::vector<int64_t>& values) {
  std::vector<std::string> parts;
  for (const int64_t v : values) parts.push_back(std::to_string(v));
  return alternatives(parts);
}

template <class E>
std::vector<std::string> allowed_names(const Rule& rule) {
  std::vector<std::string> names;
  if (rule.allowed.empty()) {
    for (const auto name : EnumNames<E>::names) names.emplace_back(name);
  } else {
    for (const auto name : rule.allowed) names.emplace_back(name);
  }
  return names;
}

bool is_identifier(std::string_view text) {
  if (text.empty()) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
  });
}

template <class T>
struct IsVector : std::false_type {};
template <class T>
struct IsVector<std::vector<T>> : std::true_type {
  using element = T;
};
template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {
  using element = T;
};

// What a key of this type and rule accepts, for "expected ..." in messages.
template <class T>
std::string expectation(const Rule& rule) {
  if constexpr (std::is_same_v<T, bool>) {
    return "a boolean (true or false)";
  } else if constexpr (std::is_integral_v<T>) {
    if (!rule.allowed_ints.empty()) return cat("one of ", ints_text(rule.allowed_ints));
    return cat("an integer", range_text(rule));
  } else if constexpr (std::is_floating_point_v<T>) {
    return cat("a number", range_text(rule));
  } else if constexpr (std::is_same_v<T, std::string>) {
    return rule.identifier ? "a name made of letters, digits, '_', '.' and '-'" : "a string";
  } else if constexpr (std::is_same_v<T, std::filesystem::path>) {
    std::string what = rule.path == PathKind::file        ? "the path of an existing file"
                       : rule.path == PathKind::directory ? "the path of an existing directory"
                                                          : "a directory path";
    if (!rule.empty_path_literal.empty()) what += cat(" or \"", rule.empty_path_literal, "\"");
    return what;
  } else if constexpr (std::is_same_v<T, data::BosPolicy>) {
    return "\"tokenizer\", true or false";
  } else if constexpr (std::is_same_v<T, ChannelAdjustment>) {
    return cat("one of ", quoted_list(allowed_names<T>(rule)), ", or true (= \"reallocate\") or false (= \"off\")");
  } else if constexpr (std::is_enum_v<T>) {
    return cat("one of ", quoted_list(allowed_names<T>(rule)));
  } else if constexpr (IsOptional<T>::value) {
    return expectation<typename IsOptional<T>::element>(rule);
  } else if constexpr (IsVector<T>::value) {
    using E = typename IsVector<T>::element;
    std::string what;
    if constexpr (std::is_enum_v<E>) {
      what = cat("values from ", quoted_list(allowed_names<E>(rule)));
    } else {
      what = cat("integers from ", ints_text(rule.allowed_ints));
    }
    return cat(rule.non_empty ? "a non-empty array of distinct " : "an array of distinct ", what);
  } else {
    static_assert(sizeof(T) == 0, "no expectation for this member type");
  }
}

// Reads the keys of one table into one section struct (the visitor of schema.h).
class TableReader {
 public:
  TableReader(ReadContext& context, const toml::table& table, std::string prefix, std::string section)
      : context_(context), table_(table), prefix_(std::move(prefix)), section_(std::move(section)) {}

  template <class T>
  void operator()(std::string_view key, T& member, const Rule& rule) {
    known_.emplace_back(key);
    const std::string dotted = prefix_ + std::string(key);
    const toml::node* node = table_.get(key);
    if (!node) {
      if (rule.required)
        context_.error(context_.where(prefix_.substr(0, prefix_.size() - 1)), dotted,
                       cat("missing, expected ", expectation<T>(rule)));
      return;
    }
    context_.note(dotted, *node);
    read(*node, member, rule, dotted);
  }

  void report_unknown_keys() {
    for (const auto& [key, value] : table_) {
      if (std::find(known_.begin(), known_.end(), key.str()) != known_.end()) continue;
      context_.error(context_.where(key), prefix_ + std::string(key.str()),
                     unknown_key_message(section_, key.str()));
    }
  }

 private:
  bool wrong(const toml::node& node, const std::string& dotted, std::string_view expected) {
    context_.error(context_.where(node), dotted, cat("found ", describe_node(node), ", expected ", expected));
    return false;
  }

  // Each read() stores the value and returns true, or reports the problem and returns false.
  bool read(const toml::node& node, bool& out, const Rule& rule, const std::string& dotted) {
    const auto* b = node.as_boolean();
    if (!b) return wrong(node, dotted, expectation<bool>(rule));
    out = b->get();
    return true;
  }

  template <class Int>
    requires std::is_integral_v<Int>
  bool read(const toml::node& node, Int& out, const Rule& rule, const std::string& dotted) {
    const auto* i = node.as_integer();
    if (!i) return wrong(node, dotted, expectation<Int>(rule));
    const int64_t value = i->get();
    const bool allowed = rule.allowed_ints.empty() ||
                         std::find(rule.allowed_ints.begin(), rule.allowed_ints.end(), value) != rule.allowed_ints.end();
    // std::in_range: an int member must not wrap whatever the rule says.
    if (!allowed || !in_range(static_cast<double>(value), rule) || !std::in_range<Int>(value))
      return wrong(node, dotted, expectation<Int>(rule));
    out = static_cast<Int>(value);
    return true;
  }

  bool read(const toml::node& node, double& out, const Rule& rule, const std::string& dotted) {
    double value = 0;
    if (const auto* f = node.as_floating_point()) {
      value = f->get();
    } else if (const auto* i = node.as_integer()) {
      value = static_cast<double>(i->get());
    } else {
      return wrong(node, dotted, expectation<double>(rule));
    }
    if (!std::isfinite(value) || !in_range(value, rule)) return wrong(node, dotted, expectation<double>(rule));
    out = value;
    return true;
  }

  bool read(const toml::node& node, std::string& out, const Rule& rule, const std::string& dotted) {
    const auto* s = node.as_string();
    if (!s || (rule.identifier && !is_identifier(s->get()))) return wrong(node, dotted, expectation<std::string>(rule));
    out = s->get();
    return true;
  }

  bool read(const toml::node& node, std::filesystem::path& out, const Rule& rule, const std::string& dotted) {
    const auto* s = node.as_string();
    if (!s || s->get().empty()) return wrong(node, dotted, expectation<std::filesystem::path>(rule));
    if (!rule.empty_path_literal.empty() && s->get() == rule.empty_path_literal) {
      out.clear();
      return true;
    }
    const Expansion expanded = expand_environment(s->get());
    if (!expanded.error.empty()) {
      context_.error(context_.where(node), dotted,
                     cat("found ", describe_node(node), " with an ", expanded.error, ", expected ",
                         expectation<std::filesystem::path>(rule)));
      return false;
    }
    const std::filesystem::path resolved = resolve_path(expanded.text, context_.base_dir(node));
    out = resolved;
    if (!context_.check_paths()) return true;

    std::error_code ec;
    const auto status = std::filesystem::status(resolved, ec);
    const bool exists = std::filesystem::exists(status);
    const bool directory = std::filesystem::is_directory(status);
    std::string problem;
    if ((rule.path == PathKind::file || rule.path == PathKind::directory) && !exists) problem = "which does not exist";
    else if (rule.path == PathKind::file && directory) problem = "which is a directory";
    else if (rule.path == PathKind::directory && !directory) problem = "which is not a directory";
    else if (rule.path == PathKind::output && exists && !directory) problem = "which is an existing file";
    if (problem.empty()) return true;
    const std::string shown = resolved.string() == s->get() ? "" : cat(" (", resolved.string(), ")");
    context_.error(context_.where(node), dotted,
                   cat("found ", toml_string_literal(s->get()), shown, " ", problem, ", expected ",
                       expectation<std::filesystem::path>(rule)));
    return false;
  }

  // add_bos: true / false, or the word "tokenizer".
  bool read(const toml::node& node, data::BosPolicy& out, const Rule& rule, const std::string& dotted) {
    if (const auto* b = node.as_boolean()) {
      out = b->get() ? data::BosPolicy::always : data::BosPolicy::never;
      return true;
    }
    if (const auto* s = node.as_string(); s && s->get() == "tokenizer") {
      out = data::BosPolicy::tokenizer;
      return true;
    }
    return wrong(node, dotted, expectation<data::BosPolicy>(rule));
  }

  // channel_adjustment: a mode name, or true / false (= "reallocate" / "off").
  bool read(const toml::node& node, ChannelAdjustment& out, const Rule& rule, const std::string& dotted) {
    if (const auto* b = node.as_boolean()) {
      out = b->get() ? ChannelAdjustment::reallocate : ChannelAdjustment::off;
      return true;
    }
    if (node.as_string()) {
      const auto value = parse_choice<ChannelAdjustment>(node, rule, dotted);
      if (value) out = *value;
      return value.has_value();
    }
    return wrong(node, dotted, expectation<ChannelAdjustment>(rule));
  }

  template <class E>
    requires std::is_enum_v<E>
  bool read(const toml::node& node, E& out, const Rule& rule, const std::string& dotted) {
    const auto value = parse_choice<E>(node, rule, dotted);
    if (value) out = *value;
    return value.has_value();
  }

  template <class E>
  bool read(const toml::node& node, std::optional<E>& out, const Rule& rule, const std::string& dotted) {
    const auto value = parse_choice<E>(node, rule, dotted);
    if (value) out = *value;
    return value.has_value();
  }

  template <class E>
  std::optional<E> parse_choice(const toml::node& node, const Rule& rule, const std::string& dotted) {
    const auto names = allowed_names<E>(rule);
    const auto* s = node.as_string();
    if (s && std::find(names.begin(), names.end(), s->get()) != names.end()) return parse_enum<E>(s->get());
    std::string message = cat("found ", describe_node(node), ", expected ", expectation<E>(rule));
    if (s)
      if (const std::string hint = closest_match(s->get(), names); !hint.empty())
        message += cat(" (did you mean \"", hint, "\"?)");
    context_.error(context_.where(node), dotted, message);
    return std::nullopt;
  }

  template <class T>
  bool read(const toml::node& node, std::vector<T>& out, const Rule& rule, const std::string& dotted) {
    const auto* array = node.as_array();
    if (!array || (rule.non_empty && array->empty())) return wrong(node, dotted, expectation<std::vector<T>>(rule));
    std::vector<T> values;
    bool ok = true;
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = *array->get(i);
      T value{};
      if (!read(element, value, rule, dotted)) {
        ok = false;
      } else if (std::find(values.begin(), values.end(), value) != values.end()) {
        context_.error(context_.where(element), dotted,
                       cat("found ", describe_node(element), " twice, expected each value at most once"));
        ok = false;
      } else {
        values.push_back(value);
      }
    }
    if (ok) out = std::move(values);
    return ok;
  }

  ReadContext& context_;
  const toml::table& table_;
  std::string prefix_;
  std::string section_;
  std::vector<std::string> known_;
};

// The top-level visitor: one TableReader per table.
class DocumentReader {
 public:
  DocumentReader(ReadContext& context, const toml::table& doc) : context_(context), doc_(doc) {}

  template <class S>
  void table(std::string_view name, S& section, bool required) {
    const std::string key(name);
    const toml::node* node = doc_.get(name);
    if (!node) {
      if (required)
        context_.error(context_.file_start(), key, cat("missing table, expected a [", name, "] table"));
      return;
    }
    const auto* table = node->as_table();
    if (!table) {
      context_.error(context_.where(*node), key,
                     cat("found ", describe_node(*node), ", expected a [", name, "] table"));
      return;
    }
    context_.note(key, *node);
    TableReader reader(context_, *table, key + ".", key);
    visit(reader, section);
    reader.report_unknown_keys();
  }

  template <class S>
  void array(std::string_view name, std::vector<S>& sections) {
    const std::string key(name);
    const toml::node* node = doc_.get(name);
    if (!node) return;
    const auto* array = node->as_array();
    if (!array || !array->is_array_of_tables()) {
      context_.error(context_.where(*node), key,
                     cat("found ", describe_node(*node), ", expected an array of tables ([[", name, "]])"));
      return;
    }
    context_.note(key, *node);
    sections.clear();
    for (size_t i = 0; i < array->size(); ++i) {
      const auto& table = *array->get(i)->as_table();
      const std::string prefix = cat(name, ".", i);
      context_.note(prefix, table);
      S section;
      TableReader reader(context_, table, prefix + ".", key);
      visit(reader, section);
      reader.report_unknown_keys();
      sections.push_back(std::move(section));
    }
  }

 private:
  ReadContext& context_;
  const toml::table& doc_;
};

}  // namespace

void read_document(const toml::table& doc, Experiment& out, ReadContext& context) {
  const std::vector<std::string> sections = section_names();
  for (const auto& [key, value] : doc)
    if (std::find(sections.begin(), sections.end(), key.str()) == sections.end())
      context.error(context.where(key), std::string(key.str()), unknown_key_message("", key.str()));
  DocumentReader reader(context, doc);
  visit(reader, out);
}

namespace {

struct SweepEntry {
  std::string key;
  const toml::node* values;
  Location where;
};

// [sweep] keys may be quoted ("allocation.target_bits" = [...]) or written as TOML dotted keys
// (allocation.target_bits = [...]), which TOML turns into nested tables: both flatten to one key.
void flatten_sweep(const toml::table& table, const std::string& prefix, ReadContext& context,
                   std::vector<SweepEntry>& out) {
  for (const auto& [key, value] : table) {
    const std::string dotted = prefix.empty() ? std::string(key.str()) : cat(prefix, ".", key.str());
    if (const auto* nested = value.as_table()) {
      flatten_sweep(*nested, dotted, context, out);
    } else {
      out.push_back({dotted, &value, context.where(key)});
    }
  }
}

}  // namespace

std::vector<SweepAxis> read_sweep(const toml::table& doc, ReadContext& context) {
  const toml::node* node = doc.get(kSweepSection);
  if (!node) return {};
  const std::string section(kSweepSection);
  const auto* table = node->as_table();
  if (!table) {
    context.error(context.where(*node), section, cat("found ", describe_node(*node), ", expected a [sweep] table"));
    return {};
  }
  std::vector<SweepEntry> entries;
  flatten_sweep(*table, "", context, entries);
  // Axis order is the order of the keys in the file (toml++ tables are sorted by name).
  std::stable_sort(entries.begin(), entries.end(), [](const SweepEntry& a, const SweepEntry& b) {
    return std::pair(a.where.line, a.where.column) < std::pair(b.where.line, b.where.column);
  });

  std::vector<SweepAxis> axes;
  for (const auto& entry : entries) {
    const std::string dotted = cat(section, ".", entry.key);
    std::string problem;
    if (!parse_override_key(entry.key, problem)) {
      context.error(entry.where, dotted, problem);
      continue;
    }
    const auto* array = entry.values->as_array();
    if (!array || array->empty() || array->is_array_of_tables()) {
      context.error(context.where(*entry.values), dotted,
                    cat("found ", describe_node(*entry.values), ", expected a non-empty array of values"));
      continue;
    }
    if (std::any_of(axes.begin(), axes.end(), [&](const SweepAxis& a) { return a.key == entry.key; })) {
      context.error(entry.where, dotted, "found this key a second time in [sweep], expected each key once");
      continue;
    }
    SweepAxis axis;
    axis.key = entry.key;
    bool ok = true;
    for (const auto& element : *array) {
      std::string literal = toml_literal(element);
      if (std::find(axis.values.begin(), axis.values.end(), literal) != axis.values.end()) {
        context.error(context.where(element), dotted,
                      cat("found ", describe_node(element), " twice, expected each value at most once"));
        ok = false;
        continue;
      }
      axis.values.push_back(std::move(literal));
      axis.origins.push_back(context.where(element).str());
    }
    if (ok) axes.push_back(std::move(axis));
  }
  // Every run is expanded and validated up front; the cap also keeps the run count from overflowing.
  constexpr size_t kMaxRuns = 1'000'000;
  size_t runs = 1;
  for (const auto& axis : axes) runs = std::min(kMaxRuns + 1, runs * axis.values.size());
  if (runs > kMaxRuns)
    context.error(context.where(*node), section,
                  cat("found more than ", kMaxRuns, " runs (the product of the value counts), expected at most ",
                      kMaxRuns));
  return axes;
}

}  // namespace moqa::config
