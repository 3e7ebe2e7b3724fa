#include "tokenizer/unicode.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace moqa::tokenizer {
namespace {

uint32_t category_mask(char32_t c) { return U_GET_GC_MASK(static_cast<UChar32>(c)); }

const icu::Normalizer2& normalizer_for(NormalForm form) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* instance = nullptr;
  switch (form) {
    case NormalForm::nfc: instance = icu::Normalizer2::getNFCInstance(status); break;
    case NormalForm::nfd: instance = icu::Normalizer2::getNFDInstance(status); break;
    case NormalForm::nfkc: instance = icu::Normalizer2::getNFKCInstance(status); break;
    case NormalForm::nfkd: instance = icu::Normalizer2::getNFKDInstance(status); break;
  }
  if (U_FAILURE(status) || instance == nullptr) fail("ICU normalizer unavailable: ", u_errorName(status));
  return *instance;
}

}  // namespace

bool is_whitespace(char32_t c) { return u_isUWhiteSpace(static_cast<UChar32>(c)) != 0; }

bool is_numeric(char32_t c) { return (category_mask(c) & (U_GC_ND_MASK | U_GC_NL_MASK | U_GC_NO_MASK)) != 0; }

bool is_word_char(char32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  const auto u = static_cast<UChar32>(c);
  return u_hasBinaryProperty(u, UCHAR_ALPHABETIC) || u_hasBinaryProperty(u, UCHAR_JOIN_CONTROL) ||
         (category_mask(c) & (U_GC_M_MASK | U_GC_ND_MASK | U_GC_PC_MASK)) != 0;
}

bool is_punctuation(char32_t c) {
  if (c < 0x80) return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
                       (c >= 0x7B && c <= 0x7E);
  return (category_mask(c) & U_GC_P_MASK) != 0;
}

bool is_combining_mark(char32_t c) { return (category_mask(c) & U_GC_M_MASK) != 0; }

std::string normalize_unicode(std::string_view text, NormalForm form) {
  // ICU measures UTF-8 input in int32_t: a longer text would be silently truncated.
  if (text.size() > static_cast<size_t>(INT32_MAX))
    fail("Unicode normalization of a ", text.size(), "-byte text: ICU handles at most ", INT32_MAX, " bytes at once");
  const icu::Normalizer2& normalizer = normalizer_for(form);
  const icu::StringPiece piece(text.data(), static_cast<int32_t>(text.size()));
  UErrorCode status = U_ZERO_ERROR;
  if (normalizer.isNormalizedUTF8(piece, status) && U_SUCCESS(status)) return std::string(text);
  status = U_ZERO_ERROR;
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  icu::StringByteSink<std::string> sink(&out);
  normalizer.normalizeUTF8(0, piece, sink, nullptr, status);
  if (U_FAILURE(status)) fail("Unicode normalization failed: ", u_errorName(status));
  return out;
}

std::string lowercase(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const auto lead = static_cast<unsigned char>(text[pos]);
    if (lead < 0x80) {
      out.push_back(static_cast<char>(lead >= 'A' && lead <= 'Z' ? lead + ('a' - 'A') : lead));
      ++pos;
      continue;
    }
    const char32_t c = decode_utf8(text, pos);
    pos += utf8_length(lead);
    UChar source[2];
    int32_t source_length = 0;
    U16_APPEND_UNSAFE(source, source_length, static_cast<UChar32>(c));
    UChar lowered[8];
    UErrorCode status = U_ZERO_ERROR;
    const int32_t lowered_length = u_strToLower(lowered, 8, source, source_length, "", &status);
    if (U_FAILURE(status)) fail("lowercasing U+", static_cast<uint32_t>(c), " failed: ", u_errorName(status));
    for (int32_t i = 0; i < lowered_length;) {
      UChar32 cp = 0;
      U16_NEXT(lowered, i, lowered_length, cp);
      append_utf8(out, static_cast<char32_t>(cp));
    }
  }
  return out;
}

}  // namespace moqa::tokenizer
