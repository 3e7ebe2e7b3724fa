// AtomicOutput / write_file_atomic: a final path only ever names a complete file.
#include "io/atomic_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/io_test_util.h"
#include "support/test_support.h"

namespace moqa::io {
namespace {

namespace fs = std::filesystem;
using moqa::test::expect_error;
using moqa::test::write_file;

std::string contents_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST(AtomicFile, WritesAndReplacesLeavingNoTemporary) {
  const fs::path dir = moqa::test::temp_dir("atomic-file");
  const fs::path path = dir / "out.txt";
  write_file_atomic(path, "first");
  EXPECT_EQ(contents_of(path), "first");
  write_file_atomic(path, std::string("se\0cond", 7));
  EXPECT_EQ(contents_of(path), std::string("se\0cond", 7));
  for (const auto& entry : fs::directory_iterator(dir)) EXPECT_EQ(entry.path().filename(), "out.txt");
}

TEST(AtomicFile, UncommittedOutputIsRemovedAndTheEarlierFileKept) {
  const fs::path path = moqa::test::temp_dir("atomic-file") / "kept.txt";
  write_file(path, "earlier");
  fs::path temp;
  {
    AtomicOutput output(path);
    temp = output.temp_path();
    EXPECT_EQ(temp.parent_path(), path.parent_path());
    write_file(temp, "half");
  }  // an exception would leave the scope the same way
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_EQ(contents_of(path), "earlier");
}

TEST(AtomicFile, ErrorsNameThePath) {
  const fs::path missing_dir = moqa::test::temp_dir("atomic-file") / "no-such-dir" / "out.txt";
  expect_error([&] { write_file_atomic(missing_dir, "x"); }, {"cannot create", missing_dir.string()});
  const fs::path path = moqa::test::temp_dir("atomic-file") / "never-written.txt";
  AtomicOutput output(path);  // nothing was written to the temporary file
  expect_error([&] { output.commit(); }, {output.temp_path().string()});
  EXPECT_FALSE(fs::exists(path));
  expect_error([] { AtomicOutput bad{fs::path("dir/")}; }, {"names no file"});
}

}  // namespace
}  // namespace moqa::io
