#include "config/read_context.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace moqa::config {

ReadContext::ReadContext(Diagnostics& diagnostics, std::string file_label, std::filesystem::path file_dir,
                         std::filesystem::path cwd, bool check_paths)
    : diagnostics_(diagnostics),
      file_label_(std::move(file_label)),
      file_dir_(std::move(file_dir)),
      cwd_(std::move(cwd)),
      check_paths_(check_paths) {
  origins_[file_label_] = Origin{file_label_, file_dir_, true};
}

void ReadContext::add_origin(const std::string& source_name, Origin origin) {
  origins_[source_name] = std::move(origin);
}

const Origin* ReadContext::origin_of(const toml::source_region& source) const {
  if (!source.path) return nullptr;
  auto it = origins_.find(*source.path);
  return it == origins_.end() ? nullptr : &it->second;
}

Location ReadContext::locate(const toml::source_region& source) const {
  const Origin* origin = origin_of(source);
  if (!origin) {
    // Nodes built in code (e.g. a table created to hold an override) have no source.
    if (!source.path) return file_start();
    return {*source.path, 0, 0};
  }
  if (!origin->positional || source.begin.line == 0) return {origin->display, 0, 0};
  return {origin->display, static_cast<int64_t>(source.begin.line), static_cast<int64_t>(source.begin.column)};
}

Location ReadContext::where(const toml::node& node) const { return locate(node.source()); }
Location ReadContext::where(const toml::key& key) const { return locate(key.source()); }

Location ReadContext::where(std::string_view dotted_key) const {
  std::string key(dotted_key);
  while (true) {
    auto it = locations_.find(key);
    if (it != locations_.end()) return it->second;
    const size_t dot = key.rfind('.');
    if (dot == std::string::npos) return file_start();
    key.resize(dot);
  }
}

const std::filesystem::path& ReadContext::base_dir(const toml::node& node) const {
  const Origin* origin = origin_of(node.source());
  return origin ? origin->base_dir : cwd_;
}

void ReadContext::note(const std::string& dotted_key, const toml::node& node) {
  locations_[dotted_key] = where(node);
}

void ReadContext::error(const Location& where, const std::string& dotted_key, std::string_view message) {
  invalid_.insert(dotted_key);
  diagnostics_.error(where, dotted_key, message);
}

std::string toml_string_literal(std::string_view text) {
  std::string out = "\"";
  for (const unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
          out += buffer;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

std::string toml_key(std::string_view key) {
  const bool bare = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
  return bare ? std::string(key) : toml_string_literal(key);
}

std::string toml_float_literal(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);  // shortest round-trip form
  std::string text(buffer, result.ptr);
  // TOML needs a '.' or an exponent to read the value back as a float.
  if (text.find_first_of(".eE") == std::string::npos) text += ".0";
  return text;
}

std::string toml_literal(const toml::node& node) {
  if (const auto* s = node.as_string()) return toml_string_literal(s->get());
  if (const auto* i = node.as_integer()) return std::to_string(i->get());
  if (const auto* f = node.as_floating_point()) return toml_float_literal(f->get());
  if (const auto* b = node.as_boolean()) return b->get() ? "true" : "false";
  if (const auto* a = node.as_array()) {
    std::string out = "[";
    for (size_t i = 0; i < a->size(); ++i) {
      if (i > 0) out += ", ";
      out += toml_literal(*a->get(i));
    }
    return out + "]";
  }
  if (const auto* t = node.as_table()) {
    std::string out = "{";
    bool first = true;
    for (const auto& [key, value] : *t) {
      out += first ? " " : ", ";
      first = false;
      out += cat(toml_key(key.str()), " = ", toml_literal(value));
    }
    return out + (first ? "}" : " }");
  }
  std::ostringstream out;  // dates and times: toml++'s own spelling is valid TOML
  node.visit([&](const auto& concrete) { out << concrete; });
  return out.str();
}

std::string describe_node(const toml::node& node) {
  std::string literal = toml_literal(node);
  if (literal.size() > 60) literal = literal.substr(0, 57) + "...";
  switch (node.type()) {
    case toml::node_type::string: return "string " + literal;
    case toml::node_type::integer: return "integer " + literal;
    case toml::node_type::floating_point: return "float " + literal;
    case toml::node_type::boolean: return "boolean " + literal;
    case toml::node_type::array: return "array " + literal;
    case toml::node_type::table: return "table " + literal;
    default: return "date/time " + literal;
  }
}

}  // namespace moqa::config
