#pragma once
// Helpers shared by the io tests: raw file writing and "throws moqa::Error mentioning all of these".
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <string>

#include "core/error.h"

namespace moqa::test {

inline void write_file(const std::filesystem::path& path, const std::string& bytes) {
  // Unlink first: truncating and rewriting a file makes ext4 flush it on close (auto_da_alloc), which
  // turns a thousand small rewrites into seconds of waiting.
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Runs `action`, expects moqa::Error, and checks that the message contains every fragment. Returns the
// message so a test can look further.
inline std::string expect_error(const std::function<void()>& action, std::initializer_list<std::string> fragments) {
  try {
    action();
  } catch (const moqa::Error& e) {
    const std::string message = e.what();
    for (const auto& fragment : fragments)
      EXPECT_NE(message.find(fragment), std::string::npos) << "message lacks '" << fragment << "':\n  " << message;
    return message;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected moqa::Error, got another exception: " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected moqa::Error, nothing was thrown";
  return {};
}

}  // namespace moqa::test
