// Reading corpora: plain text, xz (streamed, concatenated, corrupt, truncated) and JSON Lines errors.
#include <gtest/gtest.h>
#include <lzma.h>

#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/text_file.h"
#include "support/test_support.h"

namespace {

using moqa::test::error_of;

std::string xz_compress(const std::string& text) {
  std::string out(lzma_stream_buffer_bound(text.size()), '\0');
  size_t written = 0;
  const lzma_ret status = lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, nullptr, reinterpret_cast<const uint8_t*>(text.data()),
                                                  text.size(), reinterpret_cast<uint8_t*>(out.data()), &written, out.size());
  EXPECT_EQ(status, LZMA_OK);
  out.resize(written);
  return out;
}

std::filesystem::path write_file(const std::string& name, const std::string& bytes) {
  const auto path = moqa::test::temp_dir("data") / name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// Several hundred KB of varied UTF-8 so the decoder runs over many output chunks.
std::string sample_text() {
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "line " + std::to_string(i * 7919 % 100003) + " naïve café 中文 🤖\n";
  return text;
}

}  // namespace

TEST(DataReadText, PlainFileExactBytes) {
  const std::string text = "first line\r\nsecond\n\nünïcödé\n";
  EXPECT_EQ(moqa::data::read_text(write_file("plain.txt", text)), text);
  EXPECT_EQ(moqa::data::read_text(write_file("empty.txt", "")), "");
}

TEST(DataReadText, XzIsDecompressedStreamingAndConcatenated) {
  const std::string text = sample_text();
  ASSERT_GT(text.size(), 500000u);
  EXPECT_EQ(moqa::data::read_text(write_file("corpus.txt.xz", xz_compress(text))), text);
  // Detected by the magic bytes, not the name.
  EXPECT_EQ(moqa::data::read_text(write_file("corpus.bin", xz_compress("tiny"))), "tiny");
  // Concatenated streams (as `cat a.xz b.xz`) decode to the concatenated texts.
  EXPECT_EQ(moqa::data::read_text(write_file("two.xz", xz_compress("one\n") + xz_compress("two\n"))), "one\ntwo\n");
}

TEST(DataReadText, CorruptTruncatedAndFakeXzAreClearErrors) {
  std::string compressed = xz_compress(sample_text());
  std::string corrupt = compressed;
  corrupt[corrupt.size() / 2] = static_cast<char>(corrupt[corrupt.size() / 2] ^ 0x55);
  const auto corrupt_path = write_file("corrupt.txt.xz", corrupt);
  std::string message = error_of([&] { moqa::data::read_text(corrupt_path); });
  EXPECT_NE(message.find(corrupt_path.string()), std::string::npos) << message;
  EXPECT_NE(message.find("corrupt xz file"), std::string::npos) << message;

  const auto truncated_path = write_file("truncated.txt.xz", compressed.substr(0, compressed.size() - 40));
  message = error_of([&] { moqa::data::read_text(truncated_path); });
  EXPECT_NE(message.find(truncated_path.string()), std::string::npos) << message;
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;

  const auto header_only = write_file("header.xz", compressed.substr(0, 6));
  EXPECT_NE(error_of([&] { moqa::data::read_text(header_only); }).find("corrupt xz file"), std::string::npos);

  const auto fake = write_file("fake.txt.xz", "plain text");
  EXPECT_NE(error_of([&] { moqa::data::read_text(fake); }).find("xz magic"), std::string::npos);
}

TEST(DataReadText, MissingFileAndInvalidUtf8) {
  const auto missing = moqa::test::temp_dir("data") / "absent.txt";
  std::string message = error_of([&] { moqa::data::read_text(missing); });
  EXPECT_NE(message.find(missing.string()), std::string::npos) << message;
  EXPECT_NE(message.find("cannot open"), std::string::npos) << message;
  const auto latin1 = write_file("latin1.txt", "caf\xE9 au lait");
  message = error_of([&] { moqa::data::read_text(latin1); });
  EXPECT_NE(message.find("byte offset 3"), std::string::npos) << message;
}

TEST(DataReadJsonl, TextsInOrderBlankLinesSkipped) {
  const auto path = write_file("docs.jsonl", "{\"text\": \"a\", \"id\": 1}\n\n  \n{\"text\": \"b\\nc\"}\n{\"text\": \"\"}");
  EXPECT_EQ(moqa::data::read_jsonl(path, "text"), (std::vector<std::string>{"a", "b\nc", ""}));
  const auto xz = write_file("docs.jsonl.xz", xz_compress("{\"body\": \"x\"}\n"));
  EXPECT_EQ(moqa::data::read_jsonl(xz, "body"), (std::vector<std::string>{"x"}));
}

TEST(DataReadJsonl, ErrorsNameFileLineAndField) {
  const auto missing = write_file("missing.jsonl", "{\"text\": \"a\"}\n\n{\"body\": \"b\"}\n");
  std::string message = error_of([&] { moqa::data::read_jsonl(missing, "text"); });
  EXPECT_NE(message.find(missing.string() + ":3: missing field \"text\""), std::string::npos) << message;

  const auto number = write_file("number.jsonl", "{\"text\": 5}\n");
  message = error_of([&] { moqa::data::read_jsonl(number, "text"); });
  EXPECT_NE(message.find(number.string() + ":1: field \"text\" is not a string"), std::string::npos) << message;

  const auto broken = write_file("broken.jsonl", "{\"text\": \"a\"}\n{\"text\": \n");
  message = error_of([&] { moqa::data::read_jsonl(broken, "text"); });
  EXPECT_NE(message.find(broken.string() + ":2: invalid JSON"), std::string::npos) << message;

  const auto array = write_file("array.jsonl", "[\"text\"]\n");
  message = error_of([&] { moqa::data::read_jsonl(array, "text"); });
  EXPECT_NE(message.find(array.string() + ":1: expected a JSON object"), std::string::npos) << message;
}
