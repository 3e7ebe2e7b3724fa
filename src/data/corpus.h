#pragma once
// Corpus -> one token stream. Conventions (the ones Hugging Face perplexity scripts use):
//  - a text file is tokenized as ONE string, the whole file, exactly as stored (no newline translation);
//  - JSON Lines documents are joined with "\n\n" (as "\n\n".join(dataset["text"]) does for WikiText) and
//    the joined string is tokenized once;
//  - special tokens are added once to the whole string, by default with the tokenizer's own post-processor
//    (e.g. one BOS at the very start for Llama) as tokenizer(text) does; TokenizeOptions::bos says otherwise;
//  - max_tokens keeps only the first max_tokens tokens of the full tokenization (the trained models'
//    reference perplexities use "the first 65,536 tokens" of each test text).
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "data/bos_policy.h"
#include "data/corpus_format.h"
#include "tokenizer/tokenizer.h"

namespace moqa::data {

struct TokenizeOptions {
  BosPolicy bos = BosPolicy::tokenizer;
  int64_t max_tokens = 0;  // 0: keep every token
};

struct CorpusSource {
  std::filesystem::path path;          // plain or .xz
  CorpusFormat format = CorpusFormat::text;
  std::string jsonl_field = "text";    // the record field holding the text (jsonl only)
};

inline constexpr std::string_view kDocumentSeparator = "\n\n";

std::string join_documents(const std::vector<std::string>& documents, std::string_view separator = kDocumentSeparator);

// moqa::Error for BosPolicy::always with a tokenizer that has no BOS token.
std::vector<int32_t> tokenize_text(const Tokenizer& tokenizer, std::string_view text, const TokenizeOptions& options);

// Reads the corpus (read_text / read_jsonl + join_documents) and tokenizes it as above.
std::vector<int32_t> load_token_stream(const Tokenizer& tokenizer, const CorpusSource& source,
                                       const TokenizeOptions& options);

}  // namespace moqa::data
