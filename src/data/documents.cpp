#include "data/documents.h"

#include "core/error.h"
#include "data/text_file.h"
#include "tokenizer/utf8.h"

namespace moqa::data {
namespace {

// Python's str.isspace(): Unicode White_Space plus the ASCII separators U+001C..U+001F.
bool python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool only_whitespace(std::string_view text) {
  for (size_t i = 0; i < text.size(); i += tokenizer::utf8_length(static_cast<unsigned char>(text[i])))
    if (!python_space(tokenizer::decode_utf8(text, i))) return false;
  return true;
}

// The lines of `text`, each with its terminator ("\n", "\r\n" or "\r"); the last one may have none.
std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find_first_of("\r\n", begin);
    if (end == std::string_view::npos) {
      end = text.size();
    } else {
      end += text[end] == '\r' && end + 1 < text.size() && text[end + 1] == '\n' ? 2 : 1;
    }
    lines.push_back(text.substr(begin, end - begin));
    begin = end;
  }
  return lines;
}

std::string_view without_terminator(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  return line;
}

// " = Title = ": one "=" on each side, so " = = Section = = " is not one.
bool top_level_heading(std::string_view line) {
  line = without_terminator(line);
  return line.size() >= 7 && line.starts_with(" = ") && line.ends_with(" = ") && line[3] != '=' &&
         line[line.size() - 4] != '=';
}

}  // namespace

std::vector<std::string> text_rows(std::string_view text) {
  std::vector<std::string> rows;
  for (const std::string_view line : lines_of(text)) {
    if (only_whitespace(line)) {  // the terminator is whitespace too
      rows.emplace_back();
      continue;
    }
    const std::string_view content = without_terminator(line);
    std::string row(content);
    if (content.size() < line.size()) row += '\n';  // universal newlines: every terminator reads as "\n"
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<std::string> text_articles(std::string_view text) {
  const std::vector<std::string_view> lines = lines_of(text);
  const auto blank = [&](size_t i) { return i >= lines.size() || only_whitespace(lines[i]); };
  std::vector<std::string> articles;
  std::string current;
  for (size_t i = 0; i < lines.size(); ++i) {
    const bool starts_article = top_level_heading(lines[i]) && (i == 0 || blank(i - 1)) && blank(i + 1);
    if (starts_article && !current.empty()) articles.push_back(std::move(current));
    if (starts_article) current.clear();
    current.append(lines[i]);
  }
  if (!current.empty() || articles.empty()) articles.push_back(std::move(current));
  return articles;
}

std::vector<std::string> read_documents(const CorpusSource& source) {
  if (source.format == CorpusFormat::jsonl) return read_jsonl(source.path, source.jsonl_field);
  return text_articles(read_text(source.path));
}

TokenizedDocuments tokenize_documents(const Tokenizer& tokenizer, std::span<const std::string> documents,
                                      const TokenizeOptions& options) {
  MOQA_CHECK(options.max_tokens >= 0, "max_tokens must be >= 0 (0 keeps every token), got ", options.max_tokens);
  TokenizedDocuments out;
  for (const std::string& document : documents) {
    const auto have = static_cast<int64_t>(out.tokens.size());
    if (options.max_tokens > 0 && have >= options.max_tokens) break;
    TokenizeOptions one = options;
    one.max_tokens = options.max_tokens > 0 ? options.max_tokens - have : 0;
    const std::vector<int32_t> ids = tokenize_text(tokenizer, document, one);
    out.tokens.insert(out.tokens.end(), ids.begin(), ids.end());
    out.offsets.push_back(static_cast<int64_t>(out.tokens.size()));
  }
  return out;
}

TokenizedDocuments load_documents(const Tokenizer& tokenizer, const CorpusSource& source,
                                  const TokenizeOptions& options) {
  const std::vector<std::string> documents = read_documents(source);
  try {
    return tokenize_documents(tokenizer, documents, options);
  } catch (const Error& e) {
    fail(source.path.string(), ": tokenizing failed: ", e.what());
  }
}

}  // namespace moqa::data
