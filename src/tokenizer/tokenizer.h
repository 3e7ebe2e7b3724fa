#pragma once
// moqa::Tokenizer: text <-> token ids for the models moqa evaluates.
//
// Tokenizer::load reads a Hugging Face tokenizer.json (the `tokenizers` library's format) and reproduces
// that library's encode/decode exactly for BPE models: byte-level BPE with regex and sequence
// pre-tokenizers (GPT-2, Qwen, DeepSeek, OLMoE) and SentencePiece-style BPE with metaspace and byte
// fallback (Llama 2, Mixtral), normalizers, added/special tokens and post-processor templates. The
// "truncation" and "padding" sections are ignored: moqa always wants every token of a text.
// Unsupported components are rejected at load time with the file, the JSON key path and the supported
// types. Tokenizer::bytes() is the trivial tokenizer of models that ship no tokenizer.json.
//
// A Tokenizer is immutable and cheap to copy (shared state); encode/decode may run concurrently.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace moqa {

class Tokenizer {
 public:
  // Also reads tokenizer_config.json next to the file, when present, for the BOS/EOS tokens.
  static Tokenizer load(const std::filesystem::path& tokenizer_json);
  // ids are the UTF-8 bytes of the text; vocabulary of 256, no special tokens.
  static Tokenizer bytes();

  // `text` must be valid UTF-8 (moqa::Error otherwise, naming the byte offset). Added/special tokens
  // written in the text are always recognised; add_special_tokens only controls the post-processor
  // (e.g. the BOS that Llama prepends).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens) const;
  // Ids outside [0, vocab_size()) are an error. skip_special_tokens drops special added tokens.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens) const;

  // One past the largest id of the model vocabulary and the added tokens (the embedding rows needed).
  int64_t vocab_size() const;
  std::optional<int32_t> token_to_id(std::string_view token) const;
  // The token's string as stored in tokenizer.json (byte-level tokens in their mapped form); empty for
  // an id no token has. Error outside [0, vocab_size()).
  std::string_view id_to_token(int32_t id) const;
  bool is_special(int32_t id) const;
  // From tokenizer_config.json's bos_token/eos_token when present; otherwise the BOS is the single
  // special token the post-processor puts before the text, if any, and the EOS is unknown.
  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  // The tokenizer.json path, or "bytes".
  const std::string& source() const;

 private:
  struct Impl;
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace moqa
