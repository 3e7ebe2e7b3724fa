#pragma once
// A corpus as a list of documents, for the two uses that need document boundaries: GPTQ's calibration
// sampling (data::SampleMode::gptq: windows never cross a boundary) and the GPTQ perplexity protocols
// (which join Hugging Face rows). What a document is:
//  - JSON Lines: one record (its text field), as a Hugging Face dataset row;
//  - plain text, for sampling: a WikiText article. A new article starts at each top-level heading line
//    " = Title = " (one "=" on each side) that has a blank line (or the start of the text) before it and a
//    blank line (or the end) after it; WikiText-2 raw test has 60 such articles. Text before the
//    first heading is a document of its own, and a text without headings is one document (then sampling
//    = "gptq" draws exactly like random_offsets). Blank-line paragraphs are not used: WikiText paragraphs
//    are mostly shorter than one 512-token window, code and plays have blank lines inside their units,
//    while an article is, like a C4 document, a whole page;
//  - plain text, for the GPTQ WikiText-2 protocol: Hugging Face's rows of the file (text_rows).
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "data/corpus.h"
#include "tokenizer/tokenizer.h"

namespace moqa::data {

// The rows the Hugging Face `wikitext` dataset makes of a raw WikiText file: the file read in Python text
// mode (universal newlines: "\r\n" and "\r" read as "\n"), one row per line with its "\n" kept, and a
// row that is only whitespace (Python's str.strip()) replaced by "". wiki.test.raw has 4,358 lines: 4,358
// rows, 1,467 of them "" (its blank lines hold one space).
std::vector<std::string> text_rows(std::string_view text);

// The WikiText articles of a plain text (see above); concatenated they give back the text.
std::vector<std::string> text_articles(std::string_view text);

// The documents of a corpus: its records (jsonl) or its articles (text).
std::vector<std::string> read_documents(const CorpusSource& source);

// Documents tokenized one by one (each by TokenizeOptions::bos; by default the tokenizer's post-processor,
// e.g. a BOS per document for Llama, as GPTQ's tokenizer(document) does) and concatenated.
struct TokenizedDocuments {
  std::vector<int32_t> tokens;
  std::vector<int64_t> offsets{0};  // document d is tokens[offsets[d], offsets[d + 1])
  int64_t documents() const { return static_cast<int64_t>(offsets.size()) - 1; }
};

// max_tokens > 0 stops after that many tokens in all (the document reaching it is cut, later ones are not
// tokenized).
TokenizedDocuments tokenize_documents(const Tokenizer& tokenizer, std::span<const std::string> documents,
                                      const TokenizeOptions& options);

// read_documents + tokenize_documents; a tokenizer error names the file.
TokenizedDocuments load_documents(const Tokenizer& tokenizer, const CorpusSource& source,
                                  const TokenizeOptions& options);

}  // namespace moqa::data
