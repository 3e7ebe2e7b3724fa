// HDF5 writer/reader: round trips of every element type and shape, strings, attributes, the temp-name
// + rename protocol, and errors naming file and object.
#include "io/hdf5_file.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>

#include "io/io_test_util.h"
#include "support/test_support.h"

namespace moqa::io {
namespace {

using moqa::test::expect_error;

template <class T>
std::vector<T> iota_values(size_t n, T start) {
  std::vector<T> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<T>(start + static_cast<T>(i));
  return out;
}

TEST(Hdf5, RoundTripOfEveryTypeAndShape) {
  const auto path = moqa::test::temp_dir("h5-roundtrip") / "results.h5";
  {
    auto out = H5Writer::create(path);
    EXPECT_EQ(out.final_path(), path);
    EXPECT_TRUE(std::filesystem::exists(out.temp_path()));
    EXPECT_FALSE(std::filesystem::exists(path));
    out.write("/analysis/wiki/layer_0/abs_sum", iota_values<double>(24, 0.5), Shape{2, 3, 4});
    out.write("/analysis/wiki/layer_0/x2", iota_values<float>(6, -2.0f), Shape{6});
    out.write("/analysis/wiki/layer_0/counts", iota_values<int64_t>(4, int64_t{1} << 40), Shape{2, 2});
    out.write("/analysis/wiki/layer_1/counts", iota_values<int32_t>(3, -1), Shape{3, 1});
    out.write("/allocation/bits", std::vector<uint8_t>{2, 3, 4, 2, 3, 4}, Shape{2, 3});
    out.write_scalar("/metrics/ppl", 12.5);
    out.write("/empty", std::vector<float>{}, Shape{0, 5});
    out.write("/tensor", Tensor(Shape{2, 2}, std::vector<float>{1, 2, 3, 4}));
    out.commit();
    EXPECT_FALSE(std::filesystem::exists(out.temp_path()));
  }
  ASSERT_TRUE(std::filesystem::exists(path));

  const auto in = H5Reader::open(path);
  const auto abs_sum = in.read<double>("/analysis/wiki/layer_0/abs_sum");
  EXPECT_EQ(abs_sum.shape, (Shape{2, 3, 4}));
  EXPECT_EQ(abs_sum.values, iota_values<double>(24, 0.5));
  EXPECT_EQ(in.read<float>("/analysis/wiki/layer_0/x2").values, iota_values<float>(6, -2.0f));
  EXPECT_EQ(in.read<int64_t>("/analysis/wiki/layer_0/counts").values, iota_values<int64_t>(4, int64_t{1} << 40));
  const auto counts1 = in.read<int32_t>("analysis/wiki/layer_1/counts");
  EXPECT_EQ(counts1.shape, (Shape{3, 1}));
  EXPECT_EQ(counts1.values, (std::vector<int32_t>{-1, 0, 1}));
  EXPECT_EQ(in.read<uint8_t>("/allocation/bits").values, (std::vector<uint8_t>{2, 3, 4, 2, 3, 4}));
  const auto ppl = in.read<double>("/metrics/ppl");
  EXPECT_TRUE(ppl.shape.empty());
  EXPECT_EQ(ppl.values, (std::vector<double>{12.5}));
  EXPECT_EQ(in.read<float>("/empty").shape, (Shape{0, 5}));
  EXPECT_TRUE(in.read<float>("/empty").values.empty());
  EXPECT_EQ(in.read_tensor("/tensor").data, (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(in.shape("/allocation/bits"), (Shape{2, 3}));

  // Integers widen to floating point; floats never narrow to integers.
  EXPECT_EQ(in.read<double>("/allocation/bits").values, (std::vector<double>{2, 3, 4, 2, 3, 4}));
  expect_error([&] { in.read<int64_t>("/metrics/ppl"); }, {path.string(), "/metrics/ppl", "floating point", "int64"});

  EXPECT_EQ(in.members("/"), (std::vector<std::string>{"allocation", "analysis", "empty", "metrics", "tensor"}));
  EXPECT_EQ(in.members("/analysis/wiki"), (std::vector<std::string>{"layer_0", "layer_1"}));
  EXPECT_TRUE(in.exists("/analysis/wiki/layer_0/counts"));
  EXPECT_FALSE(in.exists("/analysis/code/layer_0/counts"));
  EXPECT_FALSE(in.exists("/metrics/ppl/child"));
  EXPECT_TRUE(in.is_group("/analysis/wiki"));
  EXPECT_FALSE(in.is_group("/metrics/ppl"));
  EXPECT_FALSE(in.is_group("/nothing"));
}

TEST(Hdf5, StringsAndAttributes) {
  const auto path = moqa::test::temp_dir("h5-strings") / "results.h5";
  {
    auto out = H5Writer::create(path);
    out.create_group("/provenance");
    out.create_group("/provenance");  // existing group is fine
    out.write_string("/provenance/config", "[experiment]\nname = \"q\"\n");
    out.write_strings("/analysis/datasets", {"wiki", "shakespeare", "", "código ✓"});
    out.write_strings("/analysis/none", {});
    out.set_attribute("/", "moqa_version", "0.1.0");
    out.set_attribute("/", "ranks", 4);
    out.set_attribute("/", "ranks", int64_t{2});  // replaced
    out.set_attribute("/provenance", "seed", uint64_t{1234});
    out.set_attribute("/provenance", "target_bits", 2.5);
    out.set_attribute("/provenance", "eps", 1e-6f);
    out.set_attribute("/analysis/datasets", "note", std::string("calibration"));
    out.set_attribute("/analysis/datasets", "candidate_bits", std::vector<int64_t>{2, 3, 4});
    out.set_attribute("/analysis/datasets", "weights", std::vector<double>{0.25, 0.75});
    out.commit();
  }
  const auto in = H5Reader::open(path);
  EXPECT_EQ(in.read_string("/provenance/config"), "[experiment]\nname = \"q\"\n");
  EXPECT_EQ(in.read_strings("/analysis/datasets"), (std::vector<std::string>{"wiki", "shakespeare", "", "código ✓"}));
  EXPECT_TRUE(in.read_strings("/analysis/none").empty());
  EXPECT_EQ(in.attribute_string("/", "moqa_version"), "0.1.0");
  EXPECT_EQ(in.attribute_int64("/", "ranks"), 2);
  EXPECT_EQ(in.attribute_int64("/provenance", "seed"), 1234);
  EXPECT_EQ(in.attribute_double("/provenance", "target_bits"), 2.5);
  EXPECT_EQ(in.attribute_double("/provenance", "eps"), static_cast<double>(1e-6f));
  EXPECT_EQ(in.attribute_string("/analysis/datasets", "note"), "calibration");
  EXPECT_EQ(in.attribute<int64_t>("/analysis/datasets", "candidate_bits"), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(in.attribute<double>("/analysis/datasets", "weights"), (std::vector<double>{0.25, 0.75}));
  EXPECT_EQ(in.attribute_names("/"), (std::vector<std::string>{"moqa_version", "ranks"}));
  EXPECT_TRUE(in.has_attribute("/provenance", "seed"));
  EXPECT_FALSE(in.has_attribute("/provenance", "absent"));
  EXPECT_FALSE(in.has_attribute("/absent", "seed"));
  expect_error([&] { in.attribute_string("/provenance", "absent"); }, {path.string(), "/provenance@absent"});
  expect_error([&] { in.attribute_int64("/analysis/datasets", "weights"); }, {"/analysis/datasets@weights", "int64"});
  expect_error([&] { in.read_string("/analysis/datasets"); }, {"holds 4 strings, expected one"});
  expect_error([&] { in.read<double>("/provenance/config"); }, {"/provenance/config", "strings"});
}

TEST(Hdf5, NoHalfWrittenFile) {
  const auto dir = moqa::test::temp_dir("h5-abandon");
  const auto path = dir / "results.h5";
  std::filesystem::path temp;
  {
    auto out = H5Writer::create(path);
    temp = out.temp_path();
    EXPECT_EQ(temp.string(), path.string() + ".tmp." + std::to_string(::getpid()));
    out.write("/x", std::vector<double>{1, 2}, Shape{2});
    EXPECT_TRUE(std::filesystem::exists(temp));
  }  // no commit
  EXPECT_FALSE(std::filesystem::exists(temp));
  EXPECT_FALSE(std::filesystem::exists(path));

  // An exception in the middle of writing leaves nothing either.
  try {
    auto out = H5Writer::create(path);
    out.write("/x", std::vector<double>{1, 2}, Shape{2});
    out.write("/x", std::vector<double>{1, 2}, Shape{2});  // duplicate: throws
    FAIL() << "writing a dataset twice must throw";
  } catch (const moqa::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'/x' already exists"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir));
}

TEST(Hdf5, CommitReplacesAnOlderResult) {
  const auto path = moqa::test::temp_dir("h5-replace") / "results.h5";
  for (int run = 1; run <= 2; ++run) {
    auto out = H5Writer::create(path);
    out.set_attribute("/", "run", run);
    out.commit();
    expect_error([&] { out.write_scalar("/late", 1.0); }, {"already committed"});
  }
  EXPECT_EQ(H5Reader::open(path).attribute_int64("/", "run"), 2);
}

TEST(Hdf5, ErrorsNameFileAndObject) {
  const auto dir = moqa::test::temp_dir("h5-errors");
  const auto path = dir / "results.h5";
  {
    auto out = H5Writer::create(path);
    out.write("/a/b", std::vector<float>{1}, Shape{1});
    expect_error([&] { out.write("/a/b/c", std::vector<float>{1}, Shape{1}); }, {out.temp_path().string(), "/a/b/c"});
    expect_error([&] { out.create_group("/a/b"); }, {"'/a/b' exists and is not a group"});
    expect_error([&] { out.write("/v", std::vector<float>{1, 2, 3}, Shape{2, 2}); }, {"/v", "3 values given for shape [2, 2]"});
    expect_error([&] { out.set_attribute("/missing", "k", 1.0); }, {"missing object '/missing'"});
    out.commit();
  }
  const auto in = H5Reader::open(path);
  expect_error([&] { in.read<float>("/a/missing"); }, {path.string(), "/a/missing", "cannot open dataset"});
  expect_error([&] { in.members("/a/b"); }, {path.string(), "/a/b", "cannot open group"});
  expect_error([&] { H5Reader::open(dir / "absent.h5"); }, {"absent.h5", "does not exist"});
  moqa::test::write_file(dir / "not.h5", "this is not HDF5");
  expect_error([&] { H5Reader::open(dir / "not.h5"); }, {"not.h5", "cannot open as HDF5"});
  expect_error([&] { H5Writer::create(dir / "no-such-dir" / "x.h5"); }, {"no-such-dir", "cannot create the file"});
}

// The scripts/ side reads results.h5 with h5py: strings must come back as str, arrays with their shapes.
TEST(Hdf5, ReadableByH5py) {
  MOQA_REQUIRE(std::system("/usr/bin/python3 -c 'import h5py' > /dev/null 2>&1") == 0,
               "/usr/bin/python3 with h5py not available: results.h5 is not read back by h5py");
  const auto path = moqa::test::temp_dir("h5-h5py") / "results.h5";
  {
    auto out = H5Writer::create(path);
    out.write("/allocation/bits", std::vector<uint8_t>{2, 3, 4, 2, 3, 4}, Shape{2, 3});
    out.write_strings("/names", {"wiki", "code"});
    out.set_attribute("/", "target_bits", 2.5);
    out.set_attribute("/", "config", "x = 1");
    out.commit();
  }
  const std::string script =
      "import h5py,sys\n"
      "f=h5py.File(sys.argv[1],'r')\n"
      "assert f['allocation/bits'].shape==(2,3), f['allocation/bits'].shape\n"
      "assert f['allocation/bits'][1,2]==4\n"
      "assert [s.decode() if isinstance(s,bytes) else s for s in f['names'][:]]==['wiki','code']\n"
      "assert f.attrs['target_bits']==2.5\n"
      "c=f.attrs['config']; assert (c.decode() if isinstance(c,bytes) else c)=='x = 1'\n"
      "print('ok')\n";
  const auto script_path = path.parent_path() / "check.py";
  moqa::test::write_file(script_path, script);
  const auto result = moqa::test::run_command("/usr/bin/python3 " + script_path.string() + " " + path.string());
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("ok"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace moqa::io
