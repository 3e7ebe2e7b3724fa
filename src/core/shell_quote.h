#pragma once
// Command lines as text a POSIX shell reads back word for word: results record the exact command that
// produced them, and tests build the commands they run.
#include <string>
#include <string_view>

namespace moqa {

// `arg` unchanged when it holds only characters no shell treats specially, else single-quoted with
// embedded single quotes escaped ('\'').
std::string shell_quote(std::string_view arg);

}  // namespace moqa
