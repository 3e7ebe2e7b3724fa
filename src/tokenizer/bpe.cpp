#include "tokenizer/bpe.h"

#include <algorithm>
#include <cstdio>

#include "tokenizer/utf8.h"

namespace moqa::tokenizer {
namespace {

// Words longer than this are encoded without caching (like the reference), and the cache stops growing
// at kMaxCachedWords entries so a huge corpus cannot exhaust memory through it.
constexpr size_t kMaxCachedWordBytes = 256;
constexpr size_t kMaxCachedWords = size_t{1} << 20;

std::string byte_token(unsigned char byte) {
  char text[8];
  std::snprintf(text, sizeof(text), "<0x%02X>", byte);
  return text;
}

TokenIds parse_vocab(const Json& model, const JsonWhere& where) {
  const JsonWhere at = where.field("vocab");
  const Json& vocab = require_field(model, "vocab", where);
  require_object(vocab, at);
  TokenIds ids;
  ids.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    ids.insert_or_assign(it.key(), require_token_id(it.value(), at.field(it.key())));
  }
  return ids;
}

std::pair<std::string, std::string> parse_merge(const Json& entry, const JsonWhere& at) {
  if (entry.is_string()) {
    const std::string& line = entry.get_ref<const std::string&>();
    const size_t space = line.find(' ');
    if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
      fail_at(at, "expected a merge \"left right\" with exactly one space, found '", line, "'");
    }
    return {line.substr(0, space), line.substr(space + 1)};
  }
  if (entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string()) {
    return {entry[0].get<std::string>(), entry[1].get<std::string>()};
  }
  fail_at(at, "expected a merge as \"left right\" or [\"left\", \"right\"], found ", entry.dump());
}

}  // namespace

BpeModel parse_bpe_model(const Json& model, const JsonWhere& where) {
  BpeModel bpe;
  bpe.vocab = parse_vocab(model, where);
  int32_t max_id = -1;
  for (const auto& [token, id] : bpe.vocab) max_id = std::max(max_id, id);
  bpe.id_to_token.resize(static_cast<size_t>(max_id + 1));
  for (const auto& [token, id] : bpe.vocab) bpe.id_to_token[static_cast<size_t>(id)] = token;

  if (const auto it = model.find("dropout"); it != model.end() && !it->is_null()) {
    if (!it->is_number() || it->get<double>() != 0.0) {
      fail_at(where.field("dropout"), "BPE dropout is random and not supported; expected null or 0, found ",
              json_kind(*it));
    }
  }
  bpe.fuse_unk = optional_bool(model, "fuse_unk", where, false);
  bpe.byte_fallback = optional_bool(model, "byte_fallback", where, false);
  bpe.ignore_merges = optional_bool(model, "ignore_merges", where, false);
  bpe.continuing_subword_prefix = optional_string(model, "continuing_subword_prefix", where).value_or("");
  bpe.end_of_word_suffix = optional_string(model, "end_of_word_suffix", where).value_or("");
  if (const auto unk = optional_string(model, "unk_token", where)) {
    const auto it = bpe.vocab.find(*unk);
    if (it == bpe.vocab.end()) fail_at(where.field("unk_token"), "unknown token '", *unk, "' is not in model.vocab");
    bpe.unk_id = it->second;
  }
  for (int b = 0; b < 256; ++b) {
    const auto it = bpe.vocab.find(byte_token(static_cast<unsigned char>(b)));
    bpe.byte_ids[static_cast<size_t>(b)] = it == bpe.vocab.end() ? -1 : it->second;
  }

  const JsonWhere merges_at = where.field("merges");
  const Json& merges = require_array(model, "merges", where);
  bpe.merges.reserve(merges.size());
  const std::string& prefix = bpe.continuing_subword_prefix;
  int32_t rank = 0;
  for (size_t i = 0; i < merges.size(); ++i) {
    const JsonWhere at = merges_at.item(i);
    if (merges[i].is_string() && merges[i].get_ref<const std::string&>().starts_with("#version")) continue;
    const auto [left, right] = parse_merge(merges[i], at);
    const auto lookup = [&](const std::string& token, const char* role) {
      const auto it = bpe.vocab.find(token);
      if (it == bpe.vocab.end()) {
        fail_at(at, "merge '", left, " ", right, "' references ", role, " token '", token, "' that is not in model.vocab");
      }
      return it->second;
    };
    if (!right.starts_with(prefix)) {
      fail_at(at, "merge '", left, " ", right, "': right token lacks the continuing_subword_prefix '", prefix, "'");
    }
    const int32_t left_id = lookup(left, "left");
    const int32_t right_id = lookup(right, "right");
    const int32_t merged_id = lookup(left + right.substr(prefix.size()), "merged");
    // Later duplicates win, as in the reference (its merge map is built by inserting in order).
    bpe.merges.insert_or_assign(pair_key(left_id, right_id), MergeRule{rank, merged_id});
    ++rank;
  }
  return bpe;
}

void BpeWordEncoder::split_into_symbols(std::string_view word) {
  symbols_.clear();
  const BpeModel& m = model_;
  // A pending unknown token: the reference emits it lazily so consecutive unknowns can be fused.
  bool have_unk = false;
  std::string piece;
  const auto add = [&](int32_t id) { symbols_.push_back({id, -1, -1, true}); };
  for (size_t pos = 0; pos < word.size();) {
    const size_t length = utf8_length(static_cast<unsigned char>(word[pos]));
    piece.clear();
    if (pos > 0) piece += m.continuing_subword_prefix;
    piece.append(word.substr(pos, length));
    if (pos + length == word.size()) piece += m.end_of_word_suffix;
    pos += length;

    if (const auto it = m.vocab.find(piece); it != m.vocab.end()) {
      if (have_unk) add(*m.unk_id);
      have_unk = false;
      add(it->second);
      continue;
    }
    if (m.byte_fallback &&
        std::all_of(piece.begin(), piece.end(), [&](char b) { return m.byte_ids[static_cast<unsigned char>(b)] >= 0; })) {
      // The reference leaves a pending unknown token pending across byte-fallback pieces.
      for (const char b : piece) add(m.byte_ids[static_cast<unsigned char>(b)]);
      continue;
    }
    if (!m.unk_id) continue;  // no unknown token: the character is dropped, as in the reference
    if (have_unk && !m.fuse_unk) add(*m.unk_id);
    have_unk = true;
  }
  if (have_unk) add(*m.unk_id);
  const auto count = static_cast<int32_t>(symbols_.size());
  for (int32_t i = 0; i < count; ++i) {
    symbols_[static_cast<size_t>(i)].prev = i - 1;
    symbols_[static_cast<size_t>(i)].next = i + 1 < count ? i + 1 : -1;
  }
}

void BpeWordEncoder::merge_symbols() {
  const auto& merges = model_.merges;
  // Min-heap on (rank, position): the lowest-ranked merge first, the leftmost among equal ranks.
  const auto later = [](const Candidate& a, const Candidate& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  };
  const auto push = [&](int32_t pos, int32_t left, int32_t right) {
    const auto it = merges.find(pair_key(left, right));
    if (it == merges.end()) return;
    heap_.push_back({it->second.rank, pos, it->second.merged_id});
    std::push_heap(heap_.begin(), heap_.end(), later);
  };
  heap_.clear();
  for (size_t i = 0; i + 1 < symbols_.size(); ++i) {
    push(static_cast<int32_t>(i), symbols_[i].id, symbols_[i + 1].id);
  }
  while (!heap_.empty()) {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    const Candidate top = heap_.back();
    heap_.pop_back();
    Symbol& left = symbols_[static_cast<size_t>(top.pos)];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = symbols_[static_cast<size_t>(left.next)];
    // Skip stale entries: the pair at this position changed since the entry was queued.
    const auto it = merges.find(pair_key(left.id, right.id));
    if (it == merges.end() || it->second.merged_id != top.merged_id) continue;

    left.id = top.merged_id;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols_[static_cast<size_t>(right.next)].prev = top.pos;
    if (left.prev >= 0) push(left.prev, symbols_[static_cast<size_t>(left.prev)].id, left.id);
    if (left.next >= 0) push(top.pos, left.id, symbols_[static_cast<size_t>(left.next)].id);
  }
}

void BpeWordEncoder::encode(std::string_view word, std::vector<int32_t>& out) {
  if (word.empty()) return;
  if (model_.ignore_merges) {
    if (const auto it = model_.vocab.find(word); it != model_.vocab.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const bool cacheable = word.size() < kMaxCachedWordBytes;
  if (cacheable) {
    if (const auto it = cache_.find(word); it != cache_.end()) {
      const auto [offset, count] = it->second;
      out.insert(out.end(), cached_ids_.begin() + offset, cached_ids_.begin() + offset + count);
      return;
    }
  }
  split_into_symbols(word);
  merge_symbols();
  const size_t first = out.size();
  for (const Symbol& s : symbols_) {
    if (s.alive) out.push_back(s.id);
  }
  if (cacheable && cache_.size() < kMaxCachedWords) {
    const auto offset = static_cast<uint32_t>(cached_ids_.size());
    cached_ids_.insert(cached_ids_.end(), out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
    cache_.emplace(std::string(word), std::make_pair(offset, static_cast<uint32_t>(out.size() - first)));
  }
}

}  // namespace moqa::tokenizer
