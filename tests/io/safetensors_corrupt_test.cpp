// Corrupted safetensors files, each built byte by byte: every one must fail with moqa::Error naming the
// file and where (tensor, byte offset or header range), never crash or read out of bounds (run under ASan).
#include <gtest/gtest.h>

#include <cstring>
#include <optional>

#include "io/io_test_util.h"
#include "io/safetensors.h"
#include "support/test_support.h"

namespace moqa::io {
namespace {

using moqa::test::expect_error;

std::string make_file(const std::string& header, size_t data_bytes, std::optional<uint64_t> header_length = std::nullopt) {
  const uint64_t n = header_length.value_or(header.size());
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  return out + header + std::string(data_bytes, '\x01');
}

std::string entry(const std::string& name, const std::string& dtype, const std::string& shape, const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":" + dtype + ",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
}

class SafetensorsCorrupt : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = moqa::test::temp_dir("st-corrupt"); }

  // Writes `content` and expects SafetensorsFile::open to fail naming the file and every fragment.
  std::string expect_open_error(const std::string& content, std::initializer_list<std::string> fragments) {
    const auto path = dir_ / ("case" + std::to_string(counter_++) + ".safetensors");
    moqa::test::write_file(path, content);
    std::string message = expect_error([&] { SafetensorsFile::open(path); }, fragments);
    EXPECT_NE(message.find(path.string()), std::string::npos) << "message does not name the file: " << message;
    return message;
  }

  std::filesystem::path dir_;
  int counter_ = 0;
};

TEST_F(SafetensorsCorrupt, ValidBaselineOpens) {
  const auto path = dir_ / "ok.safetensors";
  moqa::test::write_file(path, make_file("{" + entry("w", "\"F32\"", "[2,2]", "[0,16]") + "}", 16));
  EXPECT_EQ(SafetensorsFile::open(path).read("w").data.size(), 4u);
}

TEST_F(SafetensorsCorrupt, TooShortForHeaderLength) {
  expect_open_error("", {"0 bytes", "too short"});
  expect_open_error("abcde", {"5 bytes", "too short"});
}

TEST_F(SafetensorsCorrupt, HeaderLengthLargerThanFile) {
  const std::string header = "{" + entry("w", "\"F32\"", "[1]", "[0,4]") + "}";
  expect_open_error(make_file(header, 4, 1000), {"header length at bytes [0, 8) is 1000", "truncated"});
  expect_open_error(make_file(header, 0, header.size() + 1), {"header length", "[0, 8)"});
}

TEST_F(SafetensorsCorrupt, AbsurdHeaderLength) {
  expect_open_error(make_file("{}", 0, 1ull << 63), {"header length at bytes [0, 8)", "100 MB"});
  expect_open_error(make_file("{}", 0, 200ull * 1000 * 1000), {"header length", "100 MB"});
  expect_open_error(make_file("{}", 0, 0), {"header length at bytes [0, 8) is 0"});
}

TEST_F(SafetensorsCorrupt, HeaderIsNotJson) {
  expect_open_error(make_file("{\"w\": {\"dtype\": ", 0), {"not valid JSON", "file byte"});
  expect_open_error(make_file("{\"w\"::1}", 0), {"not valid JSON", "file byte 13"});
  expect_open_error(make_file(std::string("{\"a\"\0:1}", 8), 0), {"not valid JSON"});
  expect_open_error(make_file("not json at all", 0), {"not valid JSON", "file byte"});
}

TEST_F(SafetensorsCorrupt, HeaderIsNotAnObject) {
  expect_open_error(make_file("[1, 2, 3]", 0), {"an array", "expected a JSON object", "header bytes [8, 17)"});
  expect_open_error(make_file("\"text\"", 0), {"expected a JSON object"});
}

TEST_F(SafetensorsCorrupt, EntryIsNotAnObject) {
  expect_open_error(make_file("{\"w\": 5}", 0), {"tensor 'w'", "header entry at byte 9", "expected an object"});
}

TEST_F(SafetensorsCorrupt, MissingKeys) {
  expect_open_error(make_file("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4), {"tensor 'w'", "missing key 'dtype'"});
  expect_open_error(make_file("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4), {"tensor 'w'", "missing key 'shape'"});
  expect_open_error(make_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4), {"tensor 'w'", "missing key 'data_offsets'"});
}

TEST_F(SafetensorsCorrupt, WrongJsonTypes) {
  expect_open_error(make_file("{" + entry("w", "32", "[1]", "[0,4]") + "}", 4), {"tensor 'w'", "'dtype' is integer 32", "expected a string"});
  expect_open_error(make_file("{" + entry("w", "\"F32\"", "4", "[0,4]") + "}", 4), {"tensor 'w'", "'shape' is integer 4"});
  expect_open_error(make_file("{" + entry("w", "\"F32\"", "[1]", "\"0-4\"") + "}", 4), {"tensor 'w'", "'data_offsets' is string"});
  expect_open_error(make_file("{" + entry("w", "\"F32\"", "[1]", "[0,4,8]") + "}", 4), {"an array of 3 values", "[begin, end]"});
  expect_open_error(make_file("{" + entry("w", "\"F32\"", "[1]", "[0,4.5]") + "}", 4), {"data_offsets[1] is number 4.5"});
  expect_open_error(make_file("{" + entry("w", "\"F32\"", "[1]", "[-4,4]") + "}", 4), {"data_offsets[0] is negative integer -4"});
}

TEST_F(SafetensorsCorrupt, UnknownDtypeListsKnownOnes) {
  expect_open_error(make_file("{" + entry("w", "\"F17\"", "[1]", "[0,4]") + "}", 4),
                    {"tensor 'w'", "unknown dtype \"F17\"", "known: F64, F32, F16, BF16", "I8"});
}

TEST_F(SafetensorsCorrupt, BadDims) {
  expect_open_error(make_file("{" + entry("w", "\"F32\"", "[2,-1]", "[0,4]") + "}", 4), {"tensor 'w'", "shape[1] is negative integer -1"});
  expect_open_error(make_file("{" + entry("w", "\"F32\"", "[2.5]", "[0,4]") + "}", 4), {"shape[0] is number 2.5", "non-negative integer"});
  expect_open_error(make_file("{" + entry("w", "\"F32\"", "[\"2\"]", "[0,4]") + "}", 4), {"shape[0] is string \"2\""});
  expect_open_error(make_file("{" + entry("w", "\"F32\"", "[18446744073709551615]", "[0,4]") + "}", 4), {"shape[0]", "too large"});
}

TEST_F(SafetensorsCorrupt, ElementCountOverflow) {
  expect_open_error(make_file("{" + entry("w", "\"F32\"", "[4294967296,4294967296]", "[0,4]") + "}", 4),
                    {"tensor 'w'", "more elements than fit in 64 bits"});
  expect_open_error(make_file("{" + entry("w", "\"F64\"", "[4611686018427387904]", "[0,4]") + "}", 4), {"tensor 'w'", "overflows"});
}

TEST_F(SafetensorsCorrupt, OffsetsBeginAfterEnd) {
  expect_open_error(make_file("{" + entry("w", "\"F32\"", "[1]", "[8,4]") + "}", 8), {"tensor 'w'", "[8, 4]", "begin is after end"});
}

TEST_F(SafetensorsCorrupt, OffsetsPastEndOfFile) {
  const std::string header = "{" + entry("w", "\"F32\"", "[4]", "[0,16]") + "}";
  const std::string message = expect_open_error(make_file(header, 12), {"tensor 'w'", "past the end of the file"});
  // The absolute end byte: 8 + header + 16.
  EXPECT_NE(message.find("file byte " + std::to_string(8 + header.size() + 16)), std::string::npos) << message;
}

TEST_F(SafetensorsCorrupt, TruncatedValidFile) {
  const std::string good = make_file("{" + entry("a", "\"F32\"", "[2]", "[0,8]") + "," + entry("b", "\"BF16\"", "[3]", "[8,14]") + "}", 14);
  expect_open_error(good.substr(0, good.size() - 1), {"tensor 'b'", "past the end of the file"});
}

TEST_F(SafetensorsCorrupt, SizeMismatch) {
  expect_open_error(make_file("{" + entry("w", "\"BF16\"", "[2,3]", "[0,10]") + "}", 10),
                    {"tensor 'w'", "hold 10 bytes, expected 12", "6 elements of BF16", "[2, 3]"});
}

TEST_F(SafetensorsCorrupt, OverlappingTensors) {
  const std::string header = "{" + entry("a", "\"F32\"", "[4]", "[0,16]") + "," + entry("b", "\"F32\"", "[2]", "[8,16]") + "}";
  expect_open_error(make_file(header, 16), {"tensor 'b'", "overlap tensor 'a'", "[0, 16]"});
}

TEST_F(SafetensorsCorrupt, MetadataMustBeStrings) {
  const std::string w = entry("w", "\"F32\"", "[1]", "[0,4]");
  expect_open_error(make_file("{\"__metadata__\":{\"format\":5}," + w + "}", 4), {"__metadata__", "'format'", "integer 5", "expected a string"});
  expect_open_error(make_file("{\"__metadata__\":[1]," + w + "}", 4), {"__metadata__", "expected an object of strings"});
}

TEST_F(SafetensorsCorrupt, DuplicateNames) {
  const std::string header = "{" + entry("w", "\"F32\"", "[1]", "[0,4]") + "," + entry("w", "\"F32\"", "[1]", "[4,8]") + "}";
  expect_open_error(make_file(header, 8), {"tensor 'w'", "more than once"});
}

TEST_F(SafetensorsCorrupt, NotAFile) {
  expect_error([&] { SafetensorsFile::open(dir_ / "absent.safetensors"); }, {"absent.safetensors", "No such file"});
  expect_error([&] { SafetensorsFile::open(dir_); }, {dir_.string(), "not a regular file"});
}

// Every prefix of a valid file and every single-byte corruption of its header: an Error or a valid file,
// never a crash (ASan/UBSan check the "no out-of-bounds read" part).
TEST_F(SafetensorsCorrupt, EveryTruncationAndByteFlipIsHandled) {
  const std::string good = make_file("{\"__metadata__\":{\"k\":\"v\"}," + entry("a", "\"F32\"", "[2]", "[0,8]") + "," +
                                         entry("b", "\"F16\"", "[3]", "[8,14]") + "}",
                                     14);
  const auto path = dir_ / "fuzz.safetensors";
  int errors = 0, opened = 0;
  const auto attempt = [&](const std::string& content) {
    moqa::test::write_file(path, content);
    try {
      const auto file = SafetensorsFile::open(path);
      for (const auto& e : file.tensors()) (void)file.read(e.name);
      ++opened;
    } catch (const moqa::Error&) {
      ++errors;
    }
  };
  for (size_t n = 0; n < good.size(); ++n) attempt(good.substr(0, n));
  for (size_t i = 0; i < good.size() - 14; ++i) {
    for (const char replacement : {'\0', '9', '-', '"', '}', '\xff'}) {
      std::string bad = good;
      bad[i] = replacement;
      attempt(bad);
    }
  }
  EXPECT_EQ(errors + opened, static_cast<int>(good.size() + 6 * (good.size() - 14)));
  EXPECT_GT(errors, static_cast<int>(good.size()));  // every truncation fails
}

}  // namespace
}  // namespace moqa::io
