#pragma once
// Unicode character properties and transformations (ICU), with the definitions the Rust reference uses:
// char::is_whitespace, char::is_numeric, the regex crate's \w, char::to_lowercase, NFC/NFD/NFKC/NFKD.
#include <string>
#include <string_view>

namespace moqa::tokenizer {

bool is_whitespace(char32_t c);      // Unicode White_Space
bool is_numeric(char32_t c);         // general category Nd, Nl or No
bool is_word_char(char32_t c);       // Alphabetic, Mark, Nd, Pc or Join_Control (UTS #18 \w)
bool is_punctuation(char32_t c);     // ASCII punctuation or general category P*
bool is_combining_mark(char32_t c);  // general category Mn, Mc or Me

enum class NormalForm { nfc, nfd, nfkc, nfkd };
std::string normalize_unicode(std::string_view text, NormalForm form);

// Full lowercase mapping applied character by character (no context-dependent rules such as the Greek
// final sigma), which is what the reference's Lowercase normalizer does.
std::string lowercase(std::string_view text);

}  // namespace moqa::tokenizer
