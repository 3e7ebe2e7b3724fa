#include "data/text_file.h"

#include <lzma.h>

#include <array>
#include <cstring>

#include "core/error.h"
#include "data/jsonl_record.h"
#include "io/json_file.h"
#include "tokenizer/utf8.h"

namespace moqa::data {
namespace {

constexpr std::array<unsigned char, 6> kXzMagic{0xFD, '7', 'z', 'X', 'Z', 0x00};

bool has_xz_magic(std::string_view bytes) {
  return bytes.size() >= kXzMagic.size() && std::memcmp(bytes.data(), kXzMagic.data(), kXzMagic.size()) == 0;
}

const char* lzma_message(lzma_ret code) {
  switch (code) {
    case LZMA_MEM_ERROR: return "out of memory";
    case LZMA_MEMLIMIT_ERROR: return "memory limit reached";
    case LZMA_FORMAT_ERROR: return "not in the xz format";
    case LZMA_OPTIONS_ERROR: return "unsupported compression options";
    case LZMA_DATA_ERROR: return "compressed data is corrupt";
    case LZMA_BUF_ERROR: return "compressed data is truncated";
    default: return "decoder error";
  }
}

struct LzmaStream {
  lzma_stream stream = LZMA_STREAM_INIT;
  ~LzmaStream() { lzma_end(&stream); }
};

// Streams the decoder over the compressed bytes; concatenated xz streams are decoded one after another.
std::string decompress_xz(const std::filesystem::path& path, std::string_view compressed) {
  LzmaStream decoder;
  lzma_ret status = lzma_stream_decoder(&decoder.stream, UINT64_MAX, LZMA_CONCATENATED);
  if (status != LZMA_OK) fail(path.string(), ": cannot start the xz decoder: ", lzma_message(status));
  lzma_stream& s = decoder.stream;
  s.next_in = reinterpret_cast<const uint8_t*>(compressed.data());
  s.avail_in = compressed.size();
  std::string text;
  std::array<uint8_t, 1 << 16> chunk{};
  while (true) {
    s.next_out = chunk.data();
    s.avail_out = chunk.size();
    // All input is already available: tell the decoder so it can report truncation instead of waiting.
    status = lzma_code(&s, s.avail_in == 0 ? LZMA_FINISH : LZMA_RUN);
    text.append(reinterpret_cast<const char*>(chunk.data()), chunk.size() - s.avail_out);
    if (status == LZMA_STREAM_END) break;
    if (status != LZMA_OK) {
      fail(path.string(), ": corrupt xz file: ", lzma_message(status), " (after ", s.total_in, " of ",
           compressed.size(), " compressed bytes, ", text.size(), " bytes decoded)");
    }
  }
  return text;
}

void check_utf8(const std::filesystem::path& path, std::string_view text) {
  if (const auto bad = tokenizer::first_invalid_utf8(text)) {
    fail(path.string(), ": text is not valid UTF-8 at byte offset ", *bad, " (of the decoded text)");
  }
}

}  // namespace

std::string read_text(const std::filesystem::path& path) {
  std::string bytes = io::read_file(path, "text file");
  if (has_xz_magic(bytes)) {
    bytes = decompress_xz(path, bytes);
  } else if (path.extension() == ".xz") {
    fail(path.string(), ": named .xz but does not start with the xz magic bytes");
  }
  check_utf8(path, bytes);
  return bytes;
}

std::vector<JsonlLine> read_jsonl_lines(const std::filesystem::path& path) {
  const std::string text = read_text(path);
  std::vector<JsonlLine> lines;
  int64_t line_number = 0;
  for (size_t begin = 0; begin < text.size();) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    ++line_number;
    const std::string_view line(text.data() + begin, end - begin);
    begin = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    lines.push_back({line_number, std::string(line)});
  }
  return lines;
}

nlohmann::json parse_jsonl_object(const std::filesystem::path& path, const JsonlLine& line) {
  nlohmann::json record;
  try {
    record = nlohmann::json::parse(line.text);
  } catch (const nlohmann::json::parse_error& e) {
    fail(path.string(), ":", line.number, ": invalid JSON: ", e.what());
  }
  if (!record.is_object())
    fail(path.string(), ":", line.number, ": expected a JSON object per line, found ", record.type_name());
  return record;
}

std::vector<std::string> read_jsonl(const std::filesystem::path& path, std::string_view field) {
  std::vector<std::string> records;
  for (const JsonlLine& line : read_jsonl_lines(path)) {
    const nlohmann::json record = parse_jsonl_object(path, line);
    const auto value = record.find(field);
    if (value == record.end()) fail(path.string(), ":", line.number, ": missing field \"", field, "\"");
    if (!value->is_string()) {
      fail(path.string(), ":", line.number, ": field \"", field, "\" is not a string (found ", value->type_name(), ")");
    }
    records.push_back(value->get<std::string>());
  }
  return records;
}

}  // namespace moqa::data
