#include "data/corpus.h"

#include <optional>

#include "core/error.h"
#include "data/text_file.h"

namespace moqa::data {

std::string join_documents(const std::vector<std::string>& documents, std::string_view separator) {
  size_t bytes = 0;
  for (const std::string& d : documents) bytes += d.size() + separator.size();
  std::string joined;
  joined.reserve(bytes);
  for (size_t i = 0; i < documents.size(); ++i) {
    if (i > 0) joined.append(separator);
    joined.append(documents[i]);
  }
  return joined;
}

std::vector<int32_t> tokenize_text(const Tokenizer& tokenizer, std::string_view text, const TokenizeOptions& options) {
  MOQA_CHECK(options.max_tokens >= 0, "max_tokens must be >= 0 (0 keeps every token), got ", options.max_tokens);
  std::vector<int32_t> ids = tokenizer.encode(text, options.bos == BosPolicy::tokenizer);
  if (options.bos == BosPolicy::always) {
    const std::optional<int32_t> bos = tokenizer.bos_id();
    MOQA_CHECK(bos.has_value(), "add_bos = true, but the tokenizer (", tokenizer.source(),
               ") has no BOS token; use add_bos = \"tokenizer\" or false");
    ids.insert(ids.begin(), *bos);
  }
  if (options.max_tokens > 0 && static_cast<int64_t>(ids.size()) > options.max_tokens) {
    ids.resize(static_cast<size_t>(options.max_tokens));
    ids.shrink_to_fit();
  }
  return ids;
}

std::vector<int32_t> load_token_stream(const Tokenizer& tokenizer, const CorpusSource& source,
                                       const TokenizeOptions& options) {
  const std::string text = source.format == CorpusFormat::jsonl
                               ? join_documents(read_jsonl(source.path, source.jsonl_field))
                               : read_text(source.path);
  try {
    return tokenize_text(tokenizer, text, options);
  } catch (const Error& e) {
    fail(source.path.string(), ": tokenizing failed: ", e.what());
  }
}

}  // namespace moqa::data
