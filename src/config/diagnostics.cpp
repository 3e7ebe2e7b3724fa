#include "config/diagnostics.h"

#include <algorithm>
#include <numeric>

namespace moqa::config {
namespace {

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) {
    if (!out.empty()) out += '\n';
    out += line;
  }
  return out;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), size_t{0});
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

ConfigError::ConfigError(std::vector<std::string> messages)
    : moqa::Error(join_lines(messages)), messages_(std::move(messages)) {}

std::string Location::str() const {
  if (line <= 0) return origin;
  return cat(origin, ":", line, ":", column);
}

void Diagnostics::error(const Location& where, std::string_view key, std::string_view message) {
  std::string text = where.str();
  text += ": ";
  if (!key.empty()) {
    text += key;
    text += ": ";
  }
  text += message;
  add(where, std::move(text));
}

void Diagnostics::add(const Location& where, std::string text) {
  for (const auto& entry : entries_)
    if (entry.text == text) return;  // the same problem reached twice (e.g. through two checks)
  entries_.push_back({where, std::move(text)});
}

std::vector<std::string> Diagnostics::messages() const {
  std::vector<const Entry*> order;
  for (const auto& entry : entries_) order.push_back(&entry);
  std::stable_sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return std::pair(a->where.line, a->where.column) < std::pair(b->where.line, b->where.column);
  });
  std::vector<std::string> out;
  for (const Entry* entry : order) out.push_back(entry->text);
  return out;
}

void Diagnostics::throw_if_any() const {
  if (!entries_.empty()) throw ConfigError(messages());
}

std::string closest_match(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = std::string::npos;
  for (const auto& candidate : candidates) {
    const size_t d = edit_distance(word, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  // A typo changes a few characters; beyond a third of the word it is a different word.
  const size_t limit = std::max<size_t>(2, word.size() / 3);
  return best_distance <= limit && best_distance < word.size() ? best : std::string();
}

std::string alternatives(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += (i + 1 == items.size()) ? " or " : ", ";
    out += items[i];
  }
  return out;
}

std::string quoted_list(const std::vector<std::string>& items) {
  std::vector<std::string> quoted;
  for (const auto& item : items) quoted.push_back(cat('"', item, '"'));
  return alternatives(quoted);
}

}  // namespace moqa::config
