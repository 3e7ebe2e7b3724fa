#pragma once
// tokenizer.json "added_tokens": strings matched verbatim in the input before the model sees it (special
// tokens such as <s> and <|endoftext|>, and any non-special additions). Matching follows the reference:
// leftmost-longest, tokens with normalized=false on the raw text, tokens with normalized=true on the
// normalized text, honouring single_word, lstrip and rstrip.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "tokenizer/bpe.h"
#include "tokenizer/json_where.h"
#include "tokenizer/normalizer.h"

namespace moqa::tokenizer {

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = false;
  bool single_word = false;  // only matched when not inside a word
  bool lstrip = false;       // also swallows the whitespace before it
  bool rstrip = false;       // also swallows the whitespace after it
  bool normalized = false;   // matched against the normalized text (by its normalized form)
};

// Leftmost-longest matching of a set of literal strings, byte by byte.
class LiteralTrie {
 public:
  void insert(std::string_view text, int32_t value);
  bool empty() const { return nodes_.size() == 1; }
  // The longest inserted string starting at text[pos]: its length and value.
  std::optional<std::pair<size_t, int32_t>> longest_at(std::string_view text, size_t pos) const;

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> children;  // byte -> node index
    int32_t value = -1;
  };
  std::vector<Node> nodes_{Node{}};
  std::array<bool, 256> first_bytes_{};  // quick rejection of positions no token can start at
};

struct AddedVocabulary {
  std::unordered_map<int32_t, AddedToken> by_id;
  TokenIds id_by_content;
  std::unordered_set<std::string> special_contents;
  std::unordered_map<int32_t, std::string> decode_form;  // normalized form of normalized tokens it changes
  LiteralTrie raw_trie;
  LiteralTrie normalized_trie;
};

// Ids follow the reference: a token already in the model vocabulary keeps that id, the others are
// numbered from the model vocabulary's size in file order (the ids written in the file are not read).
AddedVocabulary parse_added_tokens(const Json& root, const JsonWhere& where, const BpeModel& model,
                                   const std::vector<NormalizerStep>& normalizer);

struct Segment {
  size_t begin = 0;
  size_t end = 0;
  int32_t added_id = -1;  // -1: ordinary text to be normalized and encoded
};

// Splits `text` into ordinary stretches and added-token matches found with `trie`; covers the text.
std::vector<Segment> split_on_added_tokens(const AddedVocabulary& vocabulary, const LiteralTrie& trie,
                                           std::string_view text);

}  // namespace moqa::tokenizer
