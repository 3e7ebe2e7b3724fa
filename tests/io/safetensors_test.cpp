// safetensors: dtype conversions, write -> read round trips, real checkpoints from the assets.
#include "io/safetensors.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "io/io_test_util.h"
#include "support/test_support.h"

namespace moqa::io {
namespace {

using moqa::test::expect_error;

template <class T>
std::vector<std::byte> raw_bytes(const std::vector<T>& values) {
  std::vector<std::byte> out(values.size() * sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

// Reference value of a half bit pattern, computed from the IEEE definition with doubles.
double f16_reference(uint16_t bits) {
  const int sign = bits >> 15, exponent = (bits >> 10) & 0x1F, mantissa = bits & 0x3FF;
  const double magnitude = exponent == 0 ? std::ldexp(mantissa, -24) : std::ldexp(1024 + mantissa, exponent - 25);
  return sign ? -magnitude : magnitude;
}

TEST(SafetensorsConvert, F16ToF32IsExactForEveryBitPattern) {
  for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    const auto h = static_cast<uint16_t>(bits);
    const float f = f16_to_f32(h);
    const int exponent = (h >> 10) & 0x1F;
    if (exponent == 0x1F) {
      if (h & 0x3FF) {
        EXPECT_TRUE(std::isnan(f)) << std::hex << bits;
      } else {
        EXPECT_TRUE(std::isinf(f)) << std::hex << bits;
        EXPECT_EQ(std::signbit(f), (h & 0x8000) != 0);
      }
      continue;
    }
    ASSERT_EQ(static_cast<double>(f), f16_reference(h)) << "half bits 0x" << std::hex << bits;
    ASSERT_EQ(std::signbit(f), (h & 0x8000) != 0) << std::hex << bits;  // -0 stays -0
  }
}

TEST(SafetensorsConvert, F16RoundTripsEveryBitPattern) {
  for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    const auto h = static_cast<uint16_t>(bits);
    const uint16_t back = f32_to_f16(f16_to_f32(h));
    if (std::isnan(f16_to_f32(h))) {
      EXPECT_TRUE(std::isnan(f16_to_f32(back)));
    } else {
      ASSERT_EQ(back, h) << std::hex << bits;
    }
  }
}

TEST(SafetensorsConvert, F16RoundsToNearestEven) {
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);      // tie -> even (1.0)
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);  // tie -> even (1 + 2 ulp)
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3C01);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7BFF);
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7BFF);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7C00);  // rounds to infinity
  EXPECT_EQ(f32_to_f16(-1e10f), 0xFC00);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);        // smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);        // tie -> even (0)
  EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);        // 1.5 units, tie -> 2
  EXPECT_EQ(f32_to_f16(std::ldexp(2047.0f, -25)), 0x0400);     // 1023.5 units -> smallest normal
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(SafetensorsConvert, BF16ExactAndRoundsToNearestEven) {
  for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    const auto b = static_cast<uint16_t>(bits);
    const float f = bf16_to_f32(b);
    ASSERT_EQ(std::bit_cast<uint32_t>(f), bits << 16);
    if (!std::isnan(f)) {
      ASSERT_EQ(f32_to_bf16(f), b);
    }
  }
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3F80);      // tie -> even
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);  // tie -> even
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7F80);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(-std::numeric_limits<float>::quiet_NaN()))));
}

TEST(SafetensorsConvert, Fp8Formats) {
  const std::vector<uint8_t> e4m3 = {0x38, 0xB8, 0x7E, 0x01, 0x00, 0x7F, 0x08};
  std::vector<float> out(e4m3.size());
  convert_to_f32(DType::F8_E4M3, reinterpret_cast<const std::byte*>(e4m3.data()), e4m3.size(), out.data());
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -1.0f);
  EXPECT_EQ(out[2], 448.0f);  // largest E4M3FN value
  EXPECT_EQ(out[3], std::ldexp(1.0f, -9));
  EXPECT_EQ(out[4], 0.0f);
  EXPECT_TRUE(std::isnan(out[5]));
  EXPECT_EQ(out[6], std::ldexp(1.0f, -6));  // smallest normal
  const std::vector<uint8_t> e5m2 = {0x3C, 0x7C, 0xFC, 0x01, 0x7B};
  out.resize(e5m2.size());
  convert_to_f32(DType::F8_E5M2, reinterpret_cast<const std::byte*>(e5m2.data()), e5m2.size(), out.data());
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_TRUE(std::isinf(out[1]) && out[1] > 0);
  EXPECT_TRUE(std::isinf(out[2]) && out[2] < 0);
  EXPECT_EQ(out[3], std::ldexp(1.0f, -16));
  EXPECT_EQ(out[4], 57344.0f);
}

TEST(SafetensorsConvert, DTypeNamesRoundTrip) {
  for (const char* name : {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "U16", "U32", "U64", "BOOL", "F8_E4M3", "F8_E5M2"}) {
    DType dtype;
    ASSERT_TRUE(parse_dtype(name, &dtype)) << name;
    EXPECT_EQ(dtype_name(dtype), name);
  }
  DType dtype;
  EXPECT_FALSE(parse_dtype("F17", &dtype));
  EXPECT_FALSE(parse_dtype("f32", &dtype));
  EXPECT_EQ(dtype_bytes(DType::BF16), 2u);
  EXPECT_EQ(dtype_bytes(DType::I64), 8u);
}

TEST(SafetensorsConvert, FromF32RejectsNonFloatTargets) {
  const std::vector<float> values = {1.0f};
  expect_error([&] { convert_from_f32(DType::I32, values); }, {"F32, F16 or BF16", "I32"});
}

TEST(SafetensorsRoundTrip, EveryDTypeReadsBackByValue) {
  const auto dir = moqa::test::temp_dir("st-roundtrip");
  const auto path = dir / "all.safetensors";
  const std::vector<float> floats = {0.0f, -1.5f, 3.140625f, 65504.0f, std::ldexp(1.0f, -24), -0.0f};
  const std::vector<double> f64 = {1.0, -2.5, 1e-3, 123456.0, 0.0, -7.0};
  const std::vector<int64_t> i64 = {0, -1, 1ll << 40, 7, -(1ll << 20), 3};
  const std::vector<int32_t> i32 = {0, -1, 1 << 20, 7, -100000, 3};
  const std::vector<int16_t> i16 = {0, -1, 32767, -32768, 5, 6};
  const std::vector<int8_t> i8 = {0, -1, 127, -128, 5, 6};
  const std::vector<uint8_t> u8 = {0, 1, 255, 128, 5, 6};
  const std::vector<uint16_t> u16 = {0, 1, 65535, 128, 5, 6};
  const std::vector<uint32_t> u32 = {0, 1, 1u << 24, 128, 5, 6};
  const std::vector<uint64_t> u64 = {0, 1, 1ull << 24, 128, 5, 6};
  const std::vector<uint8_t> boolean = {0, 1, 1, 0, 2, 0};
  const std::vector<uint8_t> e4m3 = {0x38, 0xB8, 0x7E, 0x01, 0x00, 0x40};

  const auto f32_bytes = convert_from_f32(DType::F32, floats);
  const auto f16_bytes = convert_from_f32(DType::F16, floats);
  const auto bf16_bytes = convert_from_f32(DType::BF16, floats);
  const std::vector<std::pair<DType, std::vector<std::byte>>> columns = {
      {DType::F32, f32_bytes},        {DType::F16, f16_bytes},        {DType::BF16, bf16_bytes},
      {DType::F64, raw_bytes(f64)},   {DType::I64, raw_bytes(i64)},   {DType::I32, raw_bytes(i32)},
      {DType::I16, raw_bytes(i16)},   {DType::I8, raw_bytes(i8)},     {DType::U8, raw_bytes(u8)},
      {DType::U16, raw_bytes(u16)},   {DType::U32, raw_bytes(u32)},   {DType::U64, raw_bytes(u64)},
      {DType::BOOL, raw_bytes(boolean)}, {DType::F8_E4M3, raw_bytes(e4m3)},
  };
  std::vector<TensorToWrite> tensors;
  for (const auto& [dtype, bytes] : columns)
    tensors.push_back({"t." + std::string(dtype_name(dtype)), dtype, Shape{2, 3}, bytes});
  tensors.push_back({"empty", DType::F32, Shape{0, 4}, {}});
  const std::vector<float> scalar = {42.0f};
  const auto scalar_bytes = convert_from_f32(DType::BF16, scalar);
  tensors.push_back({"scalar", DType::BF16, Shape{}, scalar_bytes});
  write_safetensors(path, tensors, {{"format", "pt"}, {"producer", "moqa test"}});

  EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp." + std::to_string(::getpid())));
  const auto file = SafetensorsFile::open(path);
  EXPECT_EQ(file.path(), path);
  EXPECT_EQ(file.tensors().size(), tensors.size());
  EXPECT_EQ(file.metadata().at("format"), "pt");
  EXPECT_EQ(file.metadata().at("producer"), "moqa test");
  EXPECT_EQ(file.data_start() % 8, 0u) << "data section must start 8-byte aligned";

  const auto expect_values = [&](const std::string& name, const std::vector<float>& expected) {
    const Tensor t = file.read(name);
    EXPECT_EQ(t.shape, (Shape{2, 3})) << name;
    ASSERT_EQ(t.data.size(), expected.size()) << name;
    for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(t.data[i], expected[i]) << name << "[" << i << "]";
  };
  expect_values("t.F32", floats);
  expect_values("t.F16", floats);  // all values are exact in half
  expect_values("t.BF16", {0.0f, -1.5f, 3.140625f, 65536.0f, std::ldexp(1.0f, -24), -0.0f});
  expect_values("t.F64", {1.0f, -2.5f, 1e-3f, 123456.0f, 0.0f, -7.0f});
  expect_values("t.I64", {0.0f, -1.0f, std::ldexp(1.0f, 40), 7.0f, -std::ldexp(1.0f, 20), 3.0f});
  expect_values("t.I32", {0.0f, -1.0f, std::ldexp(1.0f, 20), 7.0f, -100000.0f, 3.0f});
  expect_values("t.I16", {0.0f, -1.0f, 32767.0f, -32768.0f, 5.0f, 6.0f});
  expect_values("t.I8", {0.0f, -1.0f, 127.0f, -128.0f, 5.0f, 6.0f});
  expect_values("t.U8", {0.0f, 1.0f, 255.0f, 128.0f, 5.0f, 6.0f});
  expect_values("t.U16", {0.0f, 1.0f, 65535.0f, 128.0f, 5.0f, 6.0f});
  expect_values("t.U32", {0.0f, 1.0f, std::ldexp(1.0f, 24), 128.0f, 5.0f, 6.0f});
  expect_values("t.U64", {0.0f, 1.0f, std::ldexp(1.0f, 24), 128.0f, 5.0f, 6.0f});
  expect_values("t.BOOL", {0.0f, 1.0f, 1.0f, 0.0f, 1.0f, 0.0f});
  expect_values("t.F8_E4M3", {1.0f, -1.0f, 448.0f, std::ldexp(1.0f, -9), 0.0f, 2.0f});

  const Tensor empty = file.read("empty");
  EXPECT_EQ(empty.shape, (Shape{0, 4}));
  EXPECT_TRUE(empty.data.empty());
  const Tensor s = file.read("scalar");
  EXPECT_TRUE(s.shape.empty());
  ASSERT_EQ(s.data.size(), 1u);
  EXPECT_EQ(s.data[0], 42.0f);

  // Raw bytes are exactly what was written, and entries are sorted by offset in the given order.
  const TensorEntry* entry = file.find("t.I32");
  ASSERT_NE(entry, nullptr);
  const auto bytes = file.bytes(*entry);
  ASSERT_EQ(bytes.size(), i32.size() * 4);
  EXPECT_EQ(std::memcmp(bytes.data(), i32.data(), bytes.size()), 0);
  EXPECT_EQ(file.tensors().front().name, "t.F32");
  EXPECT_EQ(file.find("absent"), nullptr);
  expect_error([&] { file.read("absent"); }, {path.string(), "absent"});
}

TEST(SafetensorsRoundTrip, HeaderIsPaddedWithSpacesAndOrderIsKept) {
  const auto dir = moqa::test::temp_dir("st-layout");
  const auto path = dir / "layout.safetensors";
  const std::vector<float> a = {1, 2, 3}, b = {4};
  const auto a_bytes = convert_from_f32(DType::F32, a), b_bytes = convert_from_f32(DType::F16, b);
  write_safetensors(path, {{"z_first", DType::F32, {3}, a_bytes}, {"a_second", DType::F16, {1}, b_bytes}});
  const std::string raw = moqa::test::read_file(path);
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, raw.data(), 8);
  EXPECT_EQ((8 + header_bytes) % 8, 0u);
  EXPECT_EQ(raw.size(), 8 + header_bytes + 12 + 2);
  const std::string header = raw.substr(8, header_bytes);
  EXPECT_LT(header.find("z_first"), header.find("a_second"));
  EXPECT_EQ(header.find_last_not_of(' '), header.rfind('}'));
  const auto file = SafetensorsFile::open(path);
  EXPECT_EQ(file.find("z_first")->begin, 0u);
  EXPECT_EQ(file.find("a_second")->begin, 12u);
}

TEST(SafetensorsRoundTrip, WriterRejectsBadInputAndLeavesNoFile) {
  const auto dir = moqa::test::temp_dir("st-write-bad");
  const auto path = dir / "bad.safetensors";
  const std::vector<float> v = {1, 2, 3};
  const auto bytes = convert_from_f32(DType::F32, v);
  expect_error([&] { write_safetensors(path, {{"x", DType::F32, {2, 2}, bytes}}); }, {"'x'", "needs 16 bytes, got 12"});
  expect_error([&] { write_safetensors(path, {{"x", DType::F32, {3}, bytes}, {"x", DType::F32, {3}, bytes}}); }, {"'x'", "twice"});
  expect_error([&] { write_safetensors(path, {{"__metadata__", DType::F32, {3}, bytes}}); }, {"invalid tensor name"});
  expect_error([&] { write_safetensors(dir / "missing-dir" / "x.safetensors", {{"x", DType::F32, {3}, bytes}}); },
               {"cannot create", "missing-dir"});
  EXPECT_TRUE(std::filesystem::is_empty(dir));
}

TEST(SafetensorsRoundTrip, OverwritesAnExistingFileAtomically) {
  const auto dir = moqa::test::temp_dir("st-overwrite");
  const auto path = dir / "model.safetensors";
  const std::vector<float> one = {1}, two = {2, 2};
  const auto one_bytes = convert_from_f32(DType::F32, one), two_bytes = convert_from_f32(DType::F32, two);
  write_safetensors(path, {{"w", DType::F32, {1}, one_bytes}});
  write_safetensors(path, {{"w", DType::F32, {2}, two_bytes}});
  EXPECT_EQ(SafetensorsFile::open(path).read("w").shape, (Shape{2}));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1);
}

TEST(SafetensorsAssets, ReadsArchCheckpointF32) {
  const auto path = moqa::test::assets_dir() / "arch/mixtral/model.safetensors";
  MOQA_REQUIRE_ASSET(path);
  const auto file = SafetensorsFile::open(path);
  EXPECT_EQ(file.tensors().size(), 65u);
  const Tensor w = file.read("model.layers.1.block_sparse_moe.experts.3.w1.weight");
  EXPECT_EQ(w.shape, (Shape{96, 64}));
  // Values read independently with numpy.
  EXPECT_EQ(w.data[0], -0.006757223978638649f);
  EXPECT_EQ(w.data[1], -0.08373254537582397f);
  EXPECT_EQ(w.data[5], -0.09400204569101334f);
  const double sum = std::accumulate(w.data.begin(), w.data.end(), 0.0);
  EXPECT_NEAR(sum, -5.066541553473144, 1e-9);
}

TEST(SafetensorsAssets, ReadsTrainedCheckpointBF16) {
  const auto path = moqa::test::assets_dir() / "trained/qwen2moe-small/model-00003-of-00003.safetensors";
  MOQA_REQUIRE_ASSET(path);
  const auto file = SafetensorsFile::open(path);
  EXPECT_EQ(file.tensors().size(), 74u);
  const TensorEntry* entry = file.find("model.layers.2.post_attention_layernorm.weight");
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->dtype, DType::BF16);
  const Tensor w = file.read(entry->name);
  EXPECT_EQ(w.shape, (Shape{256}));
  const std::vector<float> first = {0.99609375f, 1.0625f, 1.0625f, 1.0625f, 1.125f, 1.0390625f};
  for (size_t i = 0; i < first.size(); ++i) EXPECT_EQ(w.data[i], first[i]);
  EXPECT_EQ(std::accumulate(w.data.begin(), w.data.end(), 0.0), 264.45703125);
}

}  // namespace
}  // namespace moqa::io
