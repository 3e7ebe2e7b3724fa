#pragma once
// The one exception type of moqa. Every message names the input it is about (file, key, line:column or
// byte offset), what was found and what was expected, so a user can fix the input without a debugger.
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace moqa {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Concatenates anything streamable: cat("layer ", 3, " has ", n, " experts").
template <class... Parts>
std::string cat(Parts&&... parts) {
  std::ostringstream out;
  (out << ... << std::forward<Parts>(parts));
  return out.str();
}

template <class... Parts>
[[noreturn]] void fail(Parts&&... parts) {
  throw Error(cat(std::forward<Parts>(parts)...));
}

// Checks an invariant of user input; the message parts are only built when it fails.
#define MOQA_CHECK(condition, ...)          \
  do {                                      \
    if (!(condition)) ::moqa::fail(__VA_ARGS__); \
  } while (false)

}  // namespace moqa
