#pragma once
// Regular expressions for tokenizer.json patterns, written for the Rust reference's Oniguruma engine and
// run here with PCRE2 (UTF + Unicode properties, JIT when available). The few syntax differences that
// matter for tokenizer patterns are translated (see translate_oniguruma), and find_all reproduces
// Oniguruma's iteration rule for empty matches.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct pcre2_real_code_8;

namespace moqa::tokenizer {

// Rewrites Oniguruma (Ruby syntax) constructs whose meaning differs in PCRE2: \s also matches U+0085,
// \h is a hex digit, \uHHHH is a code point.
std::string translate_oniguruma(std::string_view pattern);

struct Match {
  size_t begin = 0;  // byte offsets into the searched text
  size_t end = 0;
};

class Regex {
 public:
  // `where` names the pattern's origin (file and JSON key) for the error message of a bad pattern.
  Regex(std::string_view pattern, std::string_view where);

  // All non-overlapping matches, left to right. An empty match directly after the previous match is
  // skipped by advancing one character, as Oniguruma's find_iter does. `text` must be valid UTF-8.
  std::vector<Match> find_all(std::string_view text) const;

  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  std::shared_ptr<pcre2_real_code_8> code_;  // immutable after construction: safe to share and match concurrently
};

}  // namespace moqa::tokenizer
