#pragma once
// Reading corpora: plain UTF-8 text or xz-compressed text (*.xz, detected by its magic bytes), and JSON
// Lines files whose records carry the text in one field. Bytes are returned exactly as stored (no newline
// translation); the text must be valid UTF-8.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace moqa::data {

// The whole file, decompressed when it is xz. moqa::Error names the file and what is wrong: unreadable,
// corrupt or truncated xz (with the compressed byte offset), invalid UTF-8 (with the byte offset).
std::string read_text(const std::filesystem::path& path);

// The non-blank lines of a JSON Lines file (also xz-compressed), each with its 1-based line number for
// messages; the lines are not parsed. Readers of richer records (data/tasks.h) parse them.
struct JsonlLine {
  int64_t number = 0;
  std::string text;
};
std::vector<JsonlLine> read_jsonl_lines(const std::filesystem::path& path);

// One text per non-blank line of a JSON Lines file (also xz-compressed): the string value of `field`.
// Errors name file:line and the missing or non-string field.
std::vector<std::string> read_jsonl(const std::filesystem::path& path, std::string_view field);

}  // namespace moqa::data
