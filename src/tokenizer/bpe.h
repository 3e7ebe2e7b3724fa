#pragma once
// tokenizer.json "model" of type BPE: vocabulary, ranked merges, byte fallback and unknown-token handling.
// Encoding one word reproduces the reference exactly: start from its characters, then repeatedly apply
// the lowest-ranked applicable merge (leftmost first).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/json_where.h"

namespace moqa::tokenizer {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenIds = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

struct MergeRule {
  int32_t rank = 0;       // position in the merges list: lower merges first
  int32_t merged_id = 0;  // the token the pair becomes
};

inline uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

struct BpeModel {
  TokenIds vocab;
  std::vector<std::string> id_to_token;  // indexed by id; ids no token has are empty strings
  std::unordered_map<uint64_t, MergeRule> merges;  // keyed by pair_key(left, right)
  std::optional<int32_t> unk_id;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;  // a word that is itself in the vocabulary is not merged from characters
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  std::array<int32_t, 256> byte_ids{};  // id of "<0xNN>" for byte fallback, -1 when absent
};

BpeModel parse_bpe_model(const Json& model, const JsonWhere& where);

// Encodes words with one model, caching the result per distinct word. One instance per encode call (or
// per thread): it is the mutable part, the model stays const and shared.
class BpeWordEncoder {
 public:
  explicit BpeWordEncoder(const BpeModel& model) : model_(model) {}
  void encode(std::string_view word, std::vector<int32_t>& out);

 private:
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    bool alive;
  };
  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t merged_id;
  };
  void split_into_symbols(std::string_view word);
  void merge_symbols();

  const BpeModel& model_;
  std::vector<Symbol> symbols_;
  std::vector<Candidate> heap_;
  std::unordered_map<std::string, std::pair<uint32_t, uint32_t>, StringHash, std::equal_to<>> cache_;  // -> ids_
  std::vector<int32_t> cached_ids_;
};

}  // namespace moqa::tokenizer
