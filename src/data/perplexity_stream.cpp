#include "data/perplexity_stream.h"

#include <algorithm>

#include "core/error.h"
#include "data/documents.h"
#include "data/text_file.h"

namespace moqa::data {
namespace {

std::vector<int32_t> tokenize_source(const Tokenizer& tokenizer, const CorpusSource& source, std::string_view text,
                                     const TokenizeOptions& options) {
  try {
    return tokenize_text(tokenizer, text, options);
  } catch (const Error& e) {
    fail(source.path.string(), ": tokenizing failed: ", e.what());
  }
}

}  // namespace

PerplexityStream load_perplexity_stream(const Tokenizer& tokenizer, const CorpusSource& source,
                                        PerplexityProtocol protocol, const PerplexityStreamOptions& options) {
  MOQA_CHECK(options.seq_len >= 2, "perplexity windows need seq_len >= 2, got ", options.seq_len);
  const bool jsonl = source.format == CorpusFormat::jsonl;
  PerplexityStream out;
  std::string text;
  TokenizeOptions tokenize = options.tokenize;
  switch (protocol) {
    case PerplexityProtocol::windows: {
      if (jsonl) {
        const std::vector<std::string> records = read_jsonl(source.path, source.jsonl_field);
        out.documents = static_cast<int64_t>(records.size());
        text = join_documents(records);
      } else {
        text = read_text(source.path);
      }
      break;
    }
    case PerplexityProtocol::gptq_wikitext2: {
      const std::vector<std::string> rows =
          jsonl ? read_jsonl(source.path, source.jsonl_field) : text_rows(read_text(source.path));
      out.documents = static_cast<int64_t>(rows.size());
      text = join_documents(rows, "\n\n");
      break;
    }
    case PerplexityProtocol::gptq_c4_new: {
      if (!jsonl)
        fail(source.path.string(),
             ": protocol \"gptq-c4-new\" reads C4 documents from JSON Lines (format = "
             "\"jsonl\"), found a plain text file");
      std::vector<std::string> records = read_jsonl(source.path, source.jsonl_field);
      if (static_cast<int64_t>(records.size()) > kGptqC4Documents) records.resize(kGptqC4Documents);
      out.documents = static_cast<int64_t>(records.size());
      out.documents_wanted = kGptqC4Documents;
      out.windows_wanted = kGptqC4Windows;
      text = join_documents(records, " ");
      const int64_t cap = kGptqC4Windows * options.seq_len;
      tokenize.max_tokens = tokenize.max_tokens > 0 ? std::min(tokenize.max_tokens, cap) : cap;
      break;
    }
  }
  out.tokens = tokenize_source(tokenizer, source, text, tokenize);
  const auto tokens = static_cast<int64_t>(out.tokens.size());
  MOQA_CHECK(options.first_token >= 0 && (options.first_token == 0 || protocol == PerplexityProtocol::windows),
             "perplexity windows may start after token 0 only under the \"windows\" protocol, got first_token = ",
             options.first_token);
  if (protocol == PerplexityProtocol::windows) {
    const int64_t stride = options.stride == 0 ? options.seq_len : options.stride;
    const int64_t first = std::min(options.first_token, tokens);
    out.windows = perplexity_windows(tokens - first, options.seq_len, stride, options.keep_partial_last);
    for (EvalWindow& w : out.windows) w.begin += first;
  } else {
    out.windows = perplexity_windows(tokens, options.seq_len, options.seq_len, false);
  }
  return out;
}

std::string protocol_shortfall(const PerplexityStream& stream, const PerplexityStreamOptions& options) {
  std::string out;
  if (stream.documents_wanted > 0 && stream.documents < stream.documents_wanted)
    out = cat(stream.documents, " of the protocol's ", stream.documents_wanted, " documents exist");
  const auto windows = static_cast<int64_t>(stream.windows.size());
  if (stream.windows_wanted > 0 && windows < stream.windows_wanted)
    out += cat(out.empty() ? "" : "; ", "the text gives ", stream.tokens.size(), " tokens, fewer than ",
               stream.windows_wanted, " x ", options.seq_len, " = ", stream.windows_wanted * options.seq_len, ": ",
               windows, " windows scored instead of ", stream.windows_wanted);
  return out;
}

}  // namespace moqa::data
