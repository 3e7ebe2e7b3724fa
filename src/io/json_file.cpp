#include "io/json_file.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace moqa::io {

std::string read_file(const std::filesystem::path& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    fail(path.string(), ": cannot open the ", what, ": ", std::strerror(err));
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) fail(path.string(), ": error reading the ", what);
  return content.str();
}

nlohmann::json read_json_file(const std::filesystem::path& path, std::string_view what) {
  const std::string content = read_file(path, what);
  try {
    return nlohmann::json::parse(content);
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is 1-based (0 when unknown); editors want line:column.
    const size_t at = std::min<size_t>(e.byte > 0 ? e.byte - 1 : 0, content.size());
    const auto before = content.begin() + static_cast<std::ptrdiff_t>(at);
    const size_t line = 1 + static_cast<size_t>(std::count(content.begin(), before, '\n'));
    const size_t line_start = at == 0 ? std::string::npos : content.rfind('\n', at - 1);
    const size_t column = line_start == std::string::npos ? at + 1 : at - line_start;
    fail(path.string(), ":", line, ":", column, ": ", what, " is not valid JSON: ", e.what());
  }
}

}  // namespace moqa::io
