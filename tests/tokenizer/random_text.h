#pragma once
// Random UTF-8 strings over characters that stress pre-tokenizers (spaces of several kinds, NEL, CR,
// digits, CJK, emoji with ZWJ, quote and bracket characters). Deterministic for a given seed.
#include <random>
#include <string>
#include <vector>

#include "tokenizer/utf8.h"

namespace moqa::test {

inline std::vector<std::string> random_texts(int count, int length, unsigned seed) {
  static constexpr char32_t kAlphabet[] = {U'a', U'Z', U' ', U'\n', U'\t', U'7', U'é', U'ß', U'中', U'\u0085',
                                           U'\u00a0', U'🤖', U'\u200d', U'<', U'|', U'\'', U'\r', U'.'};
  std::mt19937 rng(seed);  // only needs to give varied texts, not portable ones
  std::vector<std::string> texts;
  for (int n = 0; n < count; ++n) {
    std::string text;
    for (int i = 0; i < length; ++i) tokenizer::append_utf8(text, kAlphabet[rng() % std::size(kAlphabet)]);
    texts.push_back(text);
  }
  return texts;
}

}  // namespace moqa::test
