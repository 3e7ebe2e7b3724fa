#include "tokenizer/tokenizer.h"

#include "core/error.h"
#include "io/json_file.h"
#include "tokenizer/added_vocabulary.h"
#include "tokenizer/bpe.h"
#include "tokenizer/decoder.h"
#include "tokenizer/json_where.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/utf8.h"

namespace moqa {

using namespace moqa::tokenizer;

struct Tokenizer::Impl {
  std::string source;
  bool bytes_mode = false;
  std::vector<NormalizerStep> normalizer;
  std::vector<PreTokenizerStep> pre_tokenizer;
  BpeModel model;
  AddedVocabulary added;
  std::vector<PostProcessorStep> post_processor;
  std::optional<std::vector<DecoderStep>> decoder;
  std::vector<std::string> tokens;        // by id: added-token content, else the model token
  std::vector<char> has_token;            // by id: 1 where some token has the id
  std::vector<char> skipped_as_special;   // by id: dropped by decode(skip_special_tokens=true)
  std::optional<int32_t> bos;
  std::optional<int32_t> eos;

  std::vector<int32_t> encode_text(std::string_view text) const;
  void check_id(int32_t id) const {
    if (id < 0 || static_cast<size_t>(id) >= tokens.size()) {
      fail(source, ": token id ", id, " is outside the vocabulary [0, ", tokens.size(), ")");
    }
  }
};

namespace {

// "bos_token": "<s>" or {"content": "<s>", ...} or null, as tokenizer_config.json writes it.
std::optional<int32_t> config_token(const Json& config, const char* key, const JsonWhere& where,
                                    const Tokenizer& tokenizer) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  std::string content;
  if (it->is_string()) {
    content = it->get<std::string>();
  } else if (it->is_object()) {
    content = require_string(*it, "content", where.field(key));
  } else {
    fail_at(where.field(key), "expected a token string or {\"content\": ...}, found ", json_kind(*it));
  }
  const auto id = tokenizer.token_to_id(content);
  if (!id) fail_at(where.field(key), "token '", content, "' is not in the tokenizer's vocabulary");
  return id;
}

}  // namespace

std::vector<int32_t> Tokenizer::Impl::encode_text(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 8);
  BpeWordEncoder words(model);
  for (const Segment& raw : split_on_added_tokens(added, added.raw_trie, text)) {
    if (raw.added_id >= 0) {
      ids.push_back(raw.added_id);
      continue;
    }
    const std::string normalized = normalize(normalizer, text.substr(raw.begin, raw.end - raw.begin));
    if (normalized.empty()) continue;
    for (const Segment& part : split_on_added_tokens(added, added.normalized_trie, normalized)) {
      if (part.added_id >= 0) {
        ids.push_back(part.added_id);
        continue;
      }
      std::vector<Piece> pieces;
      pieces.push_back({normalized.substr(part.begin, part.end - part.begin), raw.begin == 0 && part.begin == 0});
      for (const Piece& word : pre_tokenize(pre_tokenizer, std::move(pieces))) words.encode(word.text, ids);
    }
  }
  return ids;
}

Tokenizer Tokenizer::load(const std::filesystem::path& tokenizer_json) {
  auto impl = std::make_shared<Impl>();
  impl->source = tokenizer_json.string();
  const Json root = io::read_json_file(tokenizer_json, "tokenizer file");
  const JsonWhere where{impl->source, ""};
  require_object(root, where);
  if (const auto version = optional_string(root, "version", where); version && *version != "1.0") {
    fail_at(where.field("version"), "unsupported tokenizer.json version '", *version, "'; expected 1.0");
  }
  const auto section = [&](const char* key) -> const Json& {
    static const Json null_value;
    const auto it = root.find(key);
    return it == root.end() ? null_value : *it;
  };

  const JsonWhere model_at = where.field("model");
  const Json& model = require_field(root, "model", where);
  const std::string model_type = component_type(model, model_at);
  if (model_type != "BPE") {
    fail_at(model_at.field("type"), "unknown model type '", model_type, "'; supported: BPE");
  }
  impl->model = parse_bpe_model(model, model_at);
  impl->normalizer = parse_normalizer(section("normalizer"), where.field("normalizer"));
  impl->pre_tokenizer = parse_pre_tokenizer(section("pre_tokenizer"), where.field("pre_tokenizer"));
  impl->post_processor = parse_post_processor(section("post_processor"), where.field("post_processor"));
  impl->decoder = parse_decoder(section("decoder"), where.field("decoder"));
  impl->added = parse_added_tokens(root, where, impl->model, impl->normalizer);

  size_t size = impl->model.id_to_token.size();
  for (const auto& [id, token] : impl->added.by_id) size = std::max(size, static_cast<size_t>(id) + 1);
  impl->tokens.assign(size, std::string());
  impl->has_token.assign(size, 0);
  impl->skipped_as_special.assign(size, 0);
  for (const auto& [token, id] : impl->model.vocab) {
    impl->tokens[static_cast<size_t>(id)] = token;
    impl->has_token[static_cast<size_t>(id)] = 1;
  }
  for (const auto& [id, token] : impl->added.by_id) {
    impl->tokens[static_cast<size_t>(id)] = token.content;
    impl->has_token[static_cast<size_t>(id)] = 1;
  }
  // The reference decides "special" by comparing the string it decodes with the special contents.
  for (size_t id = 0; id < size; ++id) {
    const auto form = impl->added.decode_form.find(static_cast<int32_t>(id));
    const std::string& decoded = form != impl->added.decode_form.end() ? form->second : impl->tokens[id];
    impl->skipped_as_special[id] = impl->has_token[id] && impl->added.special_contents.contains(decoded);
  }
  // Everything the post-processor can add shows up when it wraps an empty sequence.
  for (const int32_t id : post_process(impl->post_processor, {}, true)) {
    if (static_cast<size_t>(id) >= size) {
      fail_at(where.field("post_processor"), "adds token id ", id, ", outside the vocabulary [0, ", size, ")");
    }
  }

  Tokenizer tokenizer(impl);
  const std::vector<int32_t> leading = leading_special_ids(impl->post_processor);
  if (leading.size() == 1) impl->bos = leading.front();
  const std::filesystem::path config_path = tokenizer_json.parent_path() / "tokenizer_config.json";
  if (std::filesystem::exists(config_path)) {
    const Json config = io::read_json_file(config_path, "tokenizer config");
    const JsonWhere config_at{config_path.string(), ""};
    require_object(config, config_at);
    if (config.contains("bos_token")) impl->bos = config_token(config, "bos_token", config_at, tokenizer);
    impl->eos = config_token(config, "eos_token", config_at, tokenizer);
  }
  return tokenizer;
}

Tokenizer Tokenizer::bytes() {
  auto impl = std::make_shared<Impl>();
  impl->source = "bytes";
  impl->bytes_mode = true;
  impl->tokens.resize(256);
  for (int b = 0; b < 256; ++b) impl->tokens[static_cast<size_t>(b)] = std::string(1, static_cast<char>(b));
  impl->has_token.assign(256, 1);
  impl->skipped_as_special.assign(256, 0);
  return Tokenizer(impl);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const Impl& t = *impl_;
  if (t.bytes_mode) {
    std::vector<int32_t> ids;
    ids.reserve(text.size());
    for (const char c : text) ids.push_back(static_cast<unsigned char>(c));
    return ids;
  }
  if (const auto bad = first_invalid_utf8(text)) {
    fail(t.source, ": text to encode is not valid UTF-8 (byte offset ", *bad, " of ", text.size(), ")");
  }
  return post_process(t.post_processor, t.encode_text(text), add_special_tokens);
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  const Impl& t = *impl_;
  if (t.bytes_mode) {
    std::string bytes;
    bytes.reserve(ids.size());
    for (const int32_t id : ids) {
      t.check_id(id);
      bytes.push_back(static_cast<char>(id));
    }
    return utf8_lossy(bytes);
  }
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const int32_t id : ids) {
    t.check_id(id);
    const auto index = static_cast<size_t>(id);
    if (!t.has_token[index]) fail(t.source, ": token id ", id, " has no token in the vocabulary");
    if (skip_special_tokens && t.skipped_as_special[index]) continue;
    const auto form = t.added.decode_form.find(id);
    tokens.push_back(form != t.added.decode_form.end() ? form->second : t.tokens[index]);
  }
  return decode_tokens(t.decoder, std::move(tokens));
}

int64_t Tokenizer::vocab_size() const { return static_cast<int64_t>(impl_->tokens.size()); }

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  const Impl& t = *impl_;
  if (t.bytes_mode) {
    if (token.size() == 1) return static_cast<unsigned char>(token[0]);
    return std::nullopt;
  }
  if (const auto it = t.added.id_by_content.find(token); it != t.added.id_by_content.end()) return it->second;
  if (const auto it = t.model.vocab.find(token); it != t.model.vocab.end()) return it->second;
  return std::nullopt;
}

std::string_view Tokenizer::id_to_token(int32_t id) const {
  impl_->check_id(id);
  return impl_->tokens[static_cast<size_t>(id)];
}

bool Tokenizer::is_special(int32_t id) const {
  impl_->check_id(id);
  const auto it = impl_->added.by_id.find(id);
  return it != impl_->added.by_id.end() && it->second.special;
}

std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos; }
std::optional<int32_t> Tokenizer::eos_id() const { return impl_->eos; }
const std::string& Tokenizer::source() const { return impl_->source; }

}  // namespace moqa
