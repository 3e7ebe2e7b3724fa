#include "config/to_toml.h"

#include <type_traits>

#include "config/read_context.h"
#include "config/schema.h"

namespace moqa::config {
namespace {

template <class T>
std::string literal(const T& value, const Rule& rule) {
  if constexpr (std::is_same_v<T, bool>) {
    return value ? "true" : "false";
  } else if constexpr (std::is_integral_v<T>) {
    return std::to_string(value);
  } else if constexpr (std::is_floating_point_v<T>) {
    return toml_float_literal(value);
  } else if constexpr (std::is_same_v<T, std::string>) {
    return toml_string_literal(value);
  } else if constexpr (std::is_same_v<T, std::filesystem::path>) {
    if (value.empty() && !rule.empty_path_literal.empty()) return toml_string_literal(rule.empty_path_literal);
    return toml_string_literal(value.generic_string());
  } else if constexpr (std::is_same_v<T, data::BosPolicy>) {
    return value == data::BosPolicy::tokenizer ? "\"tokenizer\"" : value == data::BosPolicy::always ? "true" : "false";
  } else if constexpr (std::is_enum_v<T>) {
    return toml_string_literal(name_of(value));
  } else {
    std::string out = "[";
    for (size_t i = 0; i < value.size(); ++i) out += (i ? ", " : "") + literal(value[i], rule);
    return out + "]";
  }
}

// Visitor of schema.h that prints instead of reading.
struct Writer {
  std::string out;

  template <class T>
  void operator()(std::string_view key, const T& member, const Rule& rule) {
    out += cat(key, " = ", literal(member, rule), "\n");
  }
  template <class E>
  void operator()(std::string_view key, const std::optional<E>& member, const Rule& rule) {
    if (member) (*this)(key, *member, rule);
  }
  template <class S>
  void table(std::string_view name, S& section, bool /*required*/) {
    out += cat("\n[", name, "]\n");
    visit(*this, section);
  }
  template <class S>
  void array(std::string_view name, std::vector<S>& sections) {
    for (auto& section : sections) {
      out += cat("\n[[", name, "]]\n");
      visit(*this, section);
    }
  }
};

}  // namespace

std::string to_toml(const Experiment& experiment) {
  Writer writer;
  writer.out = "# moqa experiment, fully resolved: every default filled in, every path absolute.\n";
  if (!experiment.config_file.empty()) writer.out += cat("# Source: ", experiment.config_file.string(), "\n");
  if (experiment.run.index >= 0) {
    writer.out += cat("# Sweep run ", experiment.run.index, " of ", experiment.run.count, " (", experiment.run.suffix,
                      "):");
    for (const auto& [key, value] : experiment.run.assignments) writer.out += cat(" ", key, " = ", value, ";");
    writer.out += "\n";
  }
  // The schema visitor takes mutable references (it also drives reading); the writer only reads.
  Experiment copy = experiment;
  visit(writer, copy);
  if (!experiment.sweep.empty()) {
    writer.out += "\n[sweep]\n";
    for (const auto& axis : experiment.sweep) {
      writer.out += cat(toml_string_literal(axis.key), " = [");
      for (size_t i = 0; i < axis.values.size(); ++i) writer.out += (i ? ", " : "") + axis.values[i];
      writer.out += "]\n";
    }
  }
  return writer.out;
}

}  // namespace moqa::config
