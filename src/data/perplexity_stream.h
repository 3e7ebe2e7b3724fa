#pragma once
// The token stream and windows a perplexity evaluation scores, under each named protocol
// (data/perplexity_protocol.h; docs/EVALUATION.md, "Perplexity protocols").
//
//   protocol        text                                         tokens            windows
//   windows         the file as stored (jsonl: records + "\n\n")  all (max_tokens)  seq_len every stride
//   gptq-wikitext2  Hugging Face rows (text_rows / records)       all               numel / seq_len, side by side
//                   joined with "\n\n"
//   gptq-c4-new     the first 1,100 records joined with " "        first 256 x       numel / seq_len (256 when
//                                                                  seq_len           the text is long enough)
// The text is tokenized once as one string with `tokenize` (by default BosPolicy::tokenizer: one BOS at the
// very start for Llama, as GPTQ's tokenizer(text) does). In the gptq protocols stride is seq_len and the partial tail
// is dropped, whatever the options say; every window scores its positions 1..seq_len-1 (data/windows.h),
// so the mean NLL over all scored tokens equals GPTQ's mean of per-window means (equal counts).
#include <cstdint>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "data/perplexity_protocol.h"
#include "data/windows.h"
#include "tokenizer/tokenizer.h"

namespace moqa::data {

struct PerplexityStreamOptions {
  int64_t seq_len = 2048;
  int64_t stride = 0;              // windows protocol; 0 = seq_len
  bool keep_partial_last = false;  // windows protocol
  TokenizeOptions tokenize;        // max_tokens: a further cap (0: none)
  // windows protocol: windows start at this token (the tokens before it are set aside, e.g. to profile a
  // novel distribution on, and no window reads them); the gptq protocols need 0.
  int64_t first_token = 0;
};

struct PerplexityStream {
  std::vector<int32_t> tokens;
  std::vector<EvalWindow> windows;
  int64_t documents = 0;         // rows or records joined; 0 for a text file read whole (windows protocol)
  int64_t documents_wanted = 0;  // gptq-c4-new: 1,100; 0: every row
  int64_t windows_wanted = 0;    // gptq-c4-new: 256; 0: as many as the stream holds
};

// moqa::Error naming the file when it cannot be read or tokenized, or (gptq-c4-new) is not JSON Lines.
PerplexityStream load_perplexity_stream(const Tokenizer& tokenizer, const CorpusSource& source,
                                        PerplexityProtocol protocol, const PerplexityStreamOptions& options);

// What the stream falls short of in its protocol, for the log and the results, e.g. "1025 of the
// protocol's 1100 documents exist; they give 480112 tokens, fewer than 256 x 2048 = 524288: 234 windows
// scored instead of 256"; "" when nothing is missing.
std::string protocol_shortfall(const PerplexityStream& stream, const PerplexityStreamOptions& options);

}  // namespace moqa::data
