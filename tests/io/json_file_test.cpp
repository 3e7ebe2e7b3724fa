// read_file / read_json_file: the shared readers of the small JSON files of a model directory.
#include "io/json_file.h"

#include <gtest/gtest.h>

#include "io/io_test_util.h"
#include "support/test_support.h"

namespace moqa::io {
namespace {

using moqa::test::expect_error;
using moqa::test::write_file;

TEST(JsonFile, ReadsAnyJsonValueAndExactBytes) {
  const auto path = moqa::test::temp_dir("json-file") / "ok.json";
  write_file(path, "[1, {\"a\": \"b\"}]\r\n");
  EXPECT_EQ(read_json_file(path, "test file"), nlohmann::json::parse("[1, {\"a\": \"b\"}]"));
  EXPECT_EQ(read_file(path, "test file"), "[1, {\"a\": \"b\"}]\r\n");
}

TEST(JsonFile, SyntaxErrorsGiveLineAndColumn) {
  const auto path = moqa::test::temp_dir("json-file") / "bad.json";
  write_file(path, "{\n  \"a\": 1,\n  oops\n}");
  expect_error([&] { read_json_file(path, "test file"); }, {path.string() + ":3:3: test file is not valid JSON"});
  write_file(path, "x");
  expect_error([&] { read_json_file(path, "test file"); }, {path.string() + ":1:1: "});
  write_file(path, "");
  expect_error([&] { read_json_file(path, "test file"); }, {path.string() + ":1:1: "});
}

TEST(JsonFile, MissingFileNamesItAndItsRole) {
  const auto path = moqa::test::temp_dir("json-file") / "absent.json";
  expect_error([&] { read_json_file(path, "test file"); }, {path.string(), "cannot open the test file"});
}

}  // namespace
}  // namespace moqa::io
