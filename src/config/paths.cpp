#include "config/paths.h"

#include <cstdlib>

#include "core/error.h"

namespace moqa::config {

Expansion expand_environment(std::string_view text) {
  Expansion out;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '{') {
      const size_t close = text.find('}', i + 2);
      if (close == std::string_view::npos) {
        out.error = cat("unterminated \"${\" at character ", i + 1);
        return out;
      }
      const std::string name(text.substr(i + 2, close - i - 2));
      if (name.empty()) {
        out.error = cat("empty \"${}\" at character ", i + 1);
        return out;
      }
      const char* value = std::getenv(name.c_str());
      if (!value) {
        out.error = cat("undefined environment variable ", name);
        return out;
      }
      out.text += value;
      i = close + 1;
    } else {
      out.text += text[i++];
    }
  }
  return out;
}

std::filesystem::path resolve_path(const std::filesystem::path& path, const std::filesystem::path& base_dir) {
  const std::filesystem::path full = path.is_absolute() ? path : base_dir / path;
  std::filesystem::path normal = full.lexically_normal();
  // "dir/" and "dir" name the same directory; keep one spelling so paths compare equal.
  if (!normal.has_filename() && normal.has_parent_path() && normal != normal.root_path())
    normal = normal.parent_path();
  return normal;
}

}  // namespace moqa::config
