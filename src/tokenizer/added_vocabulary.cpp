#include "tokenizer/added_vocabulary.h"

#include <algorithm>

#include "tokenizer/unicode.h"
#include "tokenizer/utf8.h"

namespace moqa::tokenizer {
namespace {

// Start of the run of whitespace that ends text[..end].
size_t trailing_space_start(std::string_view text, size_t end, size_t floor) {
  size_t pos = end;
  while (pos > floor) {
    const size_t start = previous_char_start(text, pos);
    if (!is_whitespace(decode_utf8(text, start))) break;
    pos = start;
  }
  return pos;
}

// End of the run of whitespace that starts at text[begin].
size_t leading_space_end(std::string_view text, size_t begin) {
  size_t pos = begin;
  while (pos < text.size() && is_whitespace(decode_utf8(text, pos))) pos += utf8_length(static_cast<unsigned char>(text[pos]));
  return pos;
}

}  // namespace

void LiteralTrie::insert(std::string_view text, int32_t value) {
  if (text.empty()) return;
  size_t node = 0;
  for (const char ch : text) {
    const auto byte = static_cast<unsigned char>(ch);
    auto& children = nodes_[node].children;
    const auto it = std::find_if(children.begin(), children.end(), [&](const auto& c) { return c.first == byte; });
    if (it != children.end()) {
      node = static_cast<size_t>(it->second);
    } else {
      const auto next = static_cast<int32_t>(nodes_.size());
      children.emplace_back(byte, next);
      nodes_.emplace_back();
      node = static_cast<size_t>(next);
    }
  }
  nodes_[node].value = value;
  first_bytes_[static_cast<unsigned char>(text[0])] = true;
}

std::optional<std::pair<size_t, int32_t>> LiteralTrie::longest_at(std::string_view text, size_t pos) const {
  if (pos >= text.size() || !first_bytes_[static_cast<unsigned char>(text[pos])]) return std::nullopt;
  std::optional<std::pair<size_t, int32_t>> best;
  size_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    const auto& children = nodes_[node].children;
    const auto it = std::find_if(children.begin(), children.end(), [&](const auto& c) { return c.first == byte; });
    if (it == children.end()) break;
    node = static_cast<size_t>(it->second);
    if (nodes_[node].value >= 0) best = std::make_pair(i + 1 - pos, nodes_[node].value);
  }
  return best;
}

AddedVocabulary parse_added_tokens(const Json& root, const JsonWhere& where, const BpeModel& model,
                                   const std::vector<NormalizerStep>& normalizer) {
  AddedVocabulary vocabulary;
  const auto it = root.find("added_tokens");
  if (it == root.end() || it->is_null()) return vocabulary;
  const JsonWhere list_at = where.field("added_tokens");
  if (!it->is_array()) fail_at(list_at, "expected an array, found ", json_kind(*it));
  auto next_id = static_cast<int32_t>(model.vocab.size());
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& entry = (*it)[i];
    const JsonWhere at = list_at.item(i);
    AddedToken token;
    token.content = require_string(entry, "content", at);
    token.special = optional_bool(entry, "special", at, false);
    token.single_word = optional_bool(entry, "single_word", at, false);
    token.lstrip = optional_bool(entry, "lstrip", at, false);
    token.rstrip = optional_bool(entry, "rstrip", at, false);
    token.normalized = optional_bool(entry, "normalized", at, !token.special);
    if (token.content.empty()) continue;
    if (const auto known = vocabulary.id_by_content.find(token.content); known != vocabulary.id_by_content.end()) {
      token.id = known->second;
    } else if (const auto in_model = model.vocab.find(token.content); in_model != model.vocab.end()) {
      token.id = in_model->second;
    } else {
      token.id = next_id++;
    }
    vocabulary.id_by_content.insert_or_assign(token.content, token.id);
    if (token.special) vocabulary.special_contents.insert(token.content);
    vocabulary.by_id.insert_or_assign(token.id, std::move(token));
  }
  // Tries are built after all entries so a later entry for the same content replaces the earlier one.
  for (const auto& [id, token] : vocabulary.by_id) {
    if (!token.normalized) {
      vocabulary.raw_trie.insert(token.content, id);
      continue;
    }
    std::string form = normalize(normalizer, token.content);
    vocabulary.normalized_trie.insert(form, id);
    if (form != token.content) vocabulary.decode_form.emplace(id, std::move(form));
  }
  return vocabulary;
}

std::vector<Segment> split_on_added_tokens(const AddedVocabulary& vocabulary, const LiteralTrie& trie,
                                           std::string_view text) {
  std::vector<Segment> segments;
  if (trie.empty()) {
    segments.push_back({0, text.size(), -1});
    return segments;
  }
  size_t covered = 0;  // end of the last emitted segment
  size_t pos = 0;
  while (pos < text.size()) {
    const auto found = trie.longest_at(text, pos);
    if (!found) {
      ++pos;
      continue;
    }
    size_t start = pos;
    size_t stop = pos + found->first;
    pos = stop;  // the search resumes after the match whether or not it is kept, as in the reference
    const AddedToken& token = vocabulary.by_id.at(found->second);
    if (start < covered) continue;  // inside whitespace an rstrip token already swallowed
    if (token.single_word) {
      const bool word_before = start > 0 && is_word_char(decode_utf8(text, previous_char_start(text, start)));
      const bool word_after = stop < text.size() && is_word_char(decode_utf8(text, stop));
      if (word_before || word_after) continue;
    }
    if (token.lstrip) start = trailing_space_start(text, start, covered);
    if (token.rstrip) stop = leading_space_end(text, stop);
    if (covered < start) segments.push_back({covered, start, -1});
    segments.push_back({start, stop, token.id});
    covered = stop;
  }
  if (covered < text.size()) segments.push_back({covered, text.size(), -1});
  return segments;
}

}  // namespace moqa::tokenizer
