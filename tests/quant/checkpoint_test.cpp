// The quantized checkpoint: sharded writing by several "ranks", the coordinator's index, validated reading,
// the single load_weight entry point, and the dequantized export (checked by numpy as an outside reader).
#include "quant/checkpoint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "io/checkpoint.h"
#include "io/io_test_util.h"
#include "io/safetensors.h"
#include "quant/channel_cache.h"
#include "quant/rtn.h"
#include "quant/uniform_grid.h"
#include "quant_test_data.h"
#include "support/test_support.h"

namespace moqa::quant {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using moqa::test::expect_error;
using moqa::test::read_file;
using moqa::test::write_file;

// A matrix with random codes and grids; g_idx (when asked) assigns groups in a random column order, as
// act-order GPTQ does.
QuantizedMatrix random_quantized(int64_t rows, int64_t cols, int bits, int64_t group_size, bool symmetric,
                                 bool with_g_idx, uint64_t seed, ScaleDtype scale_dtype = ScaleDtype::f32) {
  std::mt19937_64 rng(seed);
  QuantizedMatrix q;
  q.rows = rows;
  q.cols = cols;
  q.bits = bits;
  q.group_size = group_size > 0 ? group_size : cols;
  q.symmetric = symmetric;
  q.scale_dtype = scale_dtype;
  std::uniform_int_distribution<int> code(0, max_code(bits));
  std::uniform_real_distribution<float> scale(0.001f, 0.1f);
  for (int64_t i = 0; i < rows * q.groups(); ++i) {
    q.scales.push_back(stored_scale(scale(rng), scale_dtype));
    q.zeros.push_back(static_cast<uint8_t>(symmetric ? 1 << (bits - 1) : code(rng)));
  }
  if (with_g_idx) {
    std::vector<int32_t> order(static_cast<size_t>(cols));
    for (int64_t c = 0; c < cols; ++c) order[static_cast<size_t>(c)] = static_cast<int32_t>(c);
    std::shuffle(order.begin(), order.end(), rng);
    q.g_idx.resize(static_cast<size_t>(cols));
    for (int64_t j = 0; j < cols; ++j) q.g_idx[static_cast<size_t>(order[static_cast<size_t>(j)])] = static_cast<int32_t>(j / q.group_size);
  }
  std::vector<uint8_t> codes(static_cast<size_t>(rows * cols));
  for (auto& c : codes) c = static_cast<uint8_t>(code(rng));
  set_codes(q, codes);
  return q;
}

void expect_same(const QuantizedMatrix& a, const QuantizedMatrix& b, const std::string& name) {
  SCOPED_TRACE(name);
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(a.cols, b.cols);
  EXPECT_EQ(a.bits, b.bits);
  EXPECT_EQ(a.group_size, b.group_size);
  EXPECT_EQ(a.symmetric, b.symmetric);
  EXPECT_EQ(a.scale_dtype, b.scale_dtype);
  EXPECT_EQ(a.scales, b.scales);
  EXPECT_EQ(a.zeros, b.zeros);
  EXPECT_EQ(a.g_idx, b.g_idx);
  EXPECT_EQ(a.packed, b.packed);
}

std::string expert_weight(int layer, int expert, const char* projection = "w1") {
  return cat("model.layers.", layer, ".block_sparse_moe.experts.", expert, ".", projection, ".weight");
}

// A source model directory: config.json and tokenizer.json are all the checkpoint writer copies.
fs::path make_source_model(const std::string& tag) {
  const fs::path dir = moqa::test::temp_dir(tag);
  write_file(dir / "config.json", R"({"model_type": "mixtral", "hidden_size": 48, "torch_dtype": "bfloat16"})");
  write_file(dir / "tokenizer.json", R"({"version": "1.0", "model": {"type": "BPE"}})");
  return dir;
}

json read_json(const fs::path& path) { return json::parse(read_file(path)); }

// Every (bits, symmetric, grouping, g_idx) combination, spread over three ranks, plus plain tensors on two
// of them; manifests travel through their JSON form as they would through MPI.
struct ThreeRankCheckpoint {
  fs::path source;
  fs::path dir;
  std::map<std::string, QuantizedMatrix> quantized;
  std::map<std::string, Tensor> plain;
  std::vector<std::map<std::string, QuantizedMatrix>> per_rank{3};
};

// Version 2 (the default): every other matrix has f16 scales. Version 1: the writer path readers before F16
// scales understand (all scales F32), so that loading such a file stays tested.
ThreeRankCheckpoint write_three_rank_checkpoint(const std::string& tag, int format_version = kQuantizedFormatVersion) {
  ThreeRankCheckpoint c;
  c.source = make_source_model(tag + "-source");
  c.dir = moqa::test::temp_dir(tag) / "quantized";
  int index = 0;
  for (int bits : {2, 3, 4, 6, 8}) {
    for (bool symmetric : {false, true}) {
      for (int64_t group_size : {16, 0}) {
        for (bool with_g_idx : {false, true}) {
          const std::string name = expert_weight(index / 8, index % 8);
          const ScaleDtype dtype = format_version >= 2 && index % 2 == 0 ? ScaleDtype::f16 : ScaleDtype::f32;
          QuantizedMatrix q = random_quantized(5, 48, bits, group_size, symmetric, with_g_idx, 100 + index, dtype);
          c.per_rank[static_cast<size_t>(index % 3)].emplace(name, q);
          c.quantized.emplace(name, std::move(q));
          ++index;
        }
      }
    }
  }
  c.plain.emplace("model.embed_tokens.weight", test::random_matrix(10, 48, 7));
  c.plain.emplace("model.norm.weight", test::random_matrix(1, 48, 8));
  c.plain.at("model.norm.weight").shape = {48};

  std::vector<ShardManifest> gathered;
  for (int rank = 0; rank < 3; ++rank) {
    std::map<std::string, Tensor> plain;
    if (rank == 0) plain.emplace("model.embed_tokens.weight", c.plain.at("model.embed_tokens.weight"));
    if (rank == 2) plain.emplace("model.norm.weight", c.plain.at("model.norm.weight"));
    const ShardManifest manifest = write_quantized_shard(c.dir, rank, 3, c.per_rank[static_cast<size_t>(rank)], plain,
                                                         {.format_version = format_version});
    gathered.push_back(manifest_from_json(manifest_to_json(manifest)));
  }
  QuantizationSummary summary;
  summary.method = "gptq";
  summary.allocation = "moqa";
  summary.group_size = 16;
  summary.full_precision = {"attention", "router", "embeddings"};
  write_quantized_index(c.dir, c.source, gathered, summary);
  return c;
}

TEST(QuantCheckpoint, ShardNamesFollowRankAndWorldSize) {
  EXPECT_EQ(quantized_shard_name(0, 4), "model-q-00001-of-00004.safetensors");
  EXPECT_EQ(quantized_shard_name(3, 4), "model-q-00004-of-00004.safetensors");
  expect_error([] { quantized_shard_name(4, 4); }, {"rank 4", "0..3"});
  expect_error([] { quantized_shard_name(0, 0); }, {"world size 0"});
}

TEST(QuantCheckpoint, ManifestSurvivesItsJsonForm) {
  ShardManifest m;
  m.file = quantized_shard_name(1, 2);
  m.rank = 1;
  m.world_size = 2;
  m.data_bytes = 1234;
  m.quantized.push_back({expert_weight(0, 1), 3, 16, true, 5, 48, true});
  m.full_precision.push_back({"model.norm.weight", 48});
  const ShardManifest back = manifest_from_json(manifest_to_json(m));
  EXPECT_EQ(back.file, m.file);
  EXPECT_EQ(back.rank, 1);
  EXPECT_EQ(back.world_size, 2);
  EXPECT_EQ(back.data_bytes, 1234u);
  ASSERT_EQ(back.quantized.size(), 1u);
  EXPECT_EQ(back.quantized[0].name, expert_weight(0, 1));
  EXPECT_EQ(back.quantized[0].bits, 3);
  EXPECT_TRUE(back.quantized[0].has_g_idx);
  EXPECT_EQ(stored_tensor_names(back), stored_tensor_names(m));
  EXPECT_EQ(stored_tensor_names(m).size(), 6u);  // packed, scales, zeros, g_idx, qparams + the plain one
  expect_error([] { manifest_from_json(R"({"file": "x", "rank": "one"})", "rank 3's manifest"); },
               {"rank 3's manifest", "not a shard manifest"});
}

TEST(QuantCheckpoint, RoundTripsEveryWidthAndLayoutOverThreeShards) {
  const ThreeRankCheckpoint c = write_three_rank_checkpoint("qckpt-roundtrip");
  const io::CheckpointReader reader = open_quantized_checkpoint(c.dir);

  for (const auto& [name, q] : c.quantized) {
    ASSERT_TRUE(is_quantized(reader, name)) << name;
    EXPECT_FALSE(reader.contains(name)) << name;
    expect_same(load_quantized(reader, name), q, name);
    EXPECT_EQ(load_dequantized(reader, name).data, dequantize(q).data) << name;
  }
  for (const auto& [name, tensor] : c.plain) {
    EXPECT_FALSE(is_quantized(reader, name));
    EXPECT_EQ(load_weight(reader, name, tensor.shape).data, tensor.data) << name;  // F32: lossless
  }

  // Each rank's weights live in its own shard; the index maps every stored part.
  const json index = read_json(c.dir / "model.safetensors.index.json");
  EXPECT_EQ(index["metadata"]["format"], "moqa-quantized");
  EXPECT_EQ(index["metadata"]["format_version"], 2);
  EXPECT_EQ(index["metadata"]["world_size"], 3);
  for (int rank = 0; rank < 3; ++rank) {
    for (const auto& [name, q] : c.per_rank[static_cast<size_t>(rank)]) {
      EXPECT_EQ(index["weight_map"][name + ".packed"], quantized_shard_name(rank, 3));
      EXPECT_EQ(index["weight_map"][name + ".qparams"], quantized_shard_name(rank, 3));
      EXPECT_EQ(index["weight_map"].contains(name + ".g_idx"), !q.g_idx.empty());
    }
  }
  EXPECT_EQ(index["weight_map"]["model.norm.weight"], quantized_shard_name(2, 3));
  uint64_t file_bytes = 0;
  for (int rank = 0; rank < 3; ++rank) {
    const auto file = io::SafetensorsFile::open(c.dir / quantized_shard_name(rank, 3));
    EXPECT_EQ(file.metadata().at("format"), "moqa-quantized");
    EXPECT_EQ(file.metadata().at("rank"), std::to_string(rank));
    file_bytes += fs::file_size(file.path()) - file.data_start();
    for (const auto& entry : file.tensors()) {  // every array starts aligned to its element size
      EXPECT_EQ((file.data_start() + entry.begin) % io::dtype_bytes(entry.dtype), 0u) << entry.name;
    }
  }
  EXPECT_EQ(index["metadata"]["total_size"], file_bytes);

  // config.json: the source's keys plus the quantization record; the tokenizer travels along.
  const json config = read_json(c.dir / "config.json");
  EXPECT_EQ(config["model_type"], "mixtral");
  const json& qc = config["quantization_config"];
  EXPECT_EQ(qc["quant_method"], "moqa");
  EXPECT_EQ(qc["method"], "gptq");
  EXPECT_EQ(qc["allocation"], "moqa");
  EXPECT_EQ(qc["group_size"], 16);
  EXPECT_EQ(qc["bits"].size(), c.quantized.size());
  EXPECT_EQ(qc["bits"][expert_weight(0, 0)], 2);
  EXPECT_EQ(qc["bits"][expert_weight(4, 7)], 8);
  EXPECT_EQ(qc["bits_per_expert"]["model.layers.1.block_sparse_moe.experts.0"], 3);
  EXPECT_EQ(qc["full_precision_tensors"], json::array({"model.embed_tokens.weight", "model.norm.weight"}));
  EXPECT_EQ(qc["full_precision"], json::array({"attention", "router", "embeddings"}));
  EXPECT_NEAR(qc["average_bits"].get<double>(), (2 + 3 + 4 + 6 + 8) / 5.0, 1e-12);
  EXPECT_EQ(read_file(c.dir / "tokenizer.json"), read_file(c.source / "tokenizer.json"));

  // No temporary files are left behind.
  for (const auto& item : fs::directory_iterator(c.dir)) {
    EXPECT_EQ(item.path().filename().string().find(".tmp."), std::string::npos) << item.path();
  }
}

TEST(QuantCheckpoint, Version2StoresF16ScalesInTwoBytesAndLoadsThemExactly) {
  const ThreeRankCheckpoint c = write_three_rank_checkpoint("qckpt-f16");
  const io::CheckpointReader reader = open_quantized_checkpoint(c.dir);
  int f16 = 0;
  for (const auto& [name, q] : c.quantized) {
    const io::TensorEntry& scales = reader.entry(name + ".scales");
    EXPECT_EQ(scales.dtype, q.scale_dtype == ScaleDtype::f16 ? io::DType::F16 : io::DType::F32) << name;
    f16 += q.scale_dtype == ScaleDtype::f16;
    expect_same(load_quantized(reader, name), q, name);  // scale_dtype and every scale bit for bit
  }
  EXPECT_EQ(f16, 20);
  // A matrix claiming f16 scales must hold half-precision values.
  QuantizedMatrix bad = c.quantized.begin()->second;
  bad.scale_dtype = ScaleDtype::f16;
  bad.scales[0] = 0.1f;  // not a half value
  expect_error([&] { write_quantized_shard(moqa::test::temp_dir("qckpt-f16-bad"), 0, 1, {{"w", bad}}, {}); },
               {"'w'", "scale 0 is 0.1", "not a half-precision value"});
}

// Channel caches (format version 2, optional parts): stored next to their codes, read back bit for bit,
// applied by load_dequantized and the export, absent for weights without one; version 1 cannot hold them.
TEST(QuantCheckpoint, ChannelCachesAreStoredNextToTheirCodesAndServed) {
  const fs::path source = make_source_model("qckpt-cache-source");
  const fs::path dir = moqa::test::temp_dir("qckpt-cache") / "quantized";
  const std::string gate = expert_weight(0, 1, "w1"), down = expert_weight(0, 1, "w2"), plain = expert_weight(0, 2);
  const std::map<std::string, QuantizedMatrix> quantized{
      {gate, random_quantized(6, 48, 4, 16, false, false, 11, ScaleDtype::f16)},
      {down, random_quantized(48, 6, 3, 0, true, false, 12, ScaleDtype::f16)},
      {plain, random_quantized(6, 48, 2, 16, false, true, 13, ScaleDtype::f16)}};
  const std::map<std::string, ChannelCache> caches{
      {gate, make_channel_cache(test::random_matrix(6, 48, 21), {3, 17, 40}, {}, gate)},
      {down, make_channel_cache(test::random_matrix(48, 6, 22), {}, {3, 17, 40}, down)}};
  const ShardManifest manifest = write_quantized_shard(dir, 0, 1, quantized, {}, {}, caches);
  const ShardManifest back = manifest_from_json(manifest_to_json(manifest));
  EXPECT_EQ(stored_tensor_names(back), stored_tensor_names(manifest));
  EXPECT_EQ(stored_tensor_names(manifest).size(), 3u * 4u + 1u + 2u + 2u);  // parts + g_idx + two caches
  write_quantized_index(dir, source, {back}, QuantizationSummary{});

  const io::CheckpointReader reader = open_quantized_checkpoint(dir);
  EXPECT_EQ(reader.entry(gate + ".cache_column_values").dtype, io::DType::F32);
  EXPECT_EQ(reader.entry(down + ".cache_row_values").shape, (Shape{3, 6}));
  for (const auto& [name, cache] : caches) {
    const ChannelCache got = load_channel_cache(reader, name);
    EXPECT_EQ(got.matrix_rows, cache.matrix_rows) << name;
    EXPECT_EQ(got.matrix_cols, cache.matrix_cols) << name;
    EXPECT_EQ(got.columns, cache.columns) << name;
    EXPECT_EQ(got.rows, cache.rows) << name;
    EXPECT_EQ(got.column_values, cache.column_values) << name;
    EXPECT_EQ(got.row_values, cache.row_values) << name;
    EXPECT_EQ(load_dequantized(reader, name).data, dequantize_with_cache(quantized.at(name), cache, name).data) << name;
    expect_same(load_quantized(reader, name), quantized.at(name), name);
  }
  EXPECT_TRUE(load_channel_cache(reader, plain).empty());
  EXPECT_EQ(load_dequantized(reader, plain).data, dequantize(quantized.at(plain)).data);

  // The export serves the cached values and stores no cache parts of its own.
  const fs::path exported = dir.parent_path() / "export";
  export_dequantized(reader, exported, {.dtype = io::DType::F32});
  const io::CheckpointReader out = io::CheckpointReader::open(exported);
  EXPECT_EQ(out.tensor_names().size(), 3u);
  EXPECT_EQ(out.load(gate, {6, 48}).data, dequantize_with_cache(quantized.at(gate), caches.at(gate), gate).data);

  // Version 1 refuses the cache itself (f32 scales here, so that the f16-scale check does not answer first).
  std::map<std::string, QuantizedMatrix> f32_scales = quantized;
  for (auto& [name, q] : f32_scales) q.scale_dtype = ScaleDtype::f32;
  expect_error([&] { write_quantized_shard(dir, 0, 1, f32_scales, {}, {.format_version = 1}, caches); },
               {"'" + gate + "' has a channel cache", "format_version 1 cannot store"});
  std::map<std::string, ChannelCache> misplaced{{expert_weight(5, 5), caches.at(gate)}};
  expect_error([&] { write_quantized_shard(dir, 0, 1, quantized, {}, {}, misplaced); },
               {"a channel cache is given for '" + expert_weight(5, 5) + "'", "not among the quantized tensors"});
}

TEST(QuantCheckpoint, LoadWeightReadsPlainAndQuantizedNamesThroughOneCall) {
  const ThreeRankCheckpoint c = write_three_rank_checkpoint("qckpt-load-weight");
  const io::CheckpointReader reader = open_quantized_checkpoint(c.dir);
  const std::string quantized = expert_weight(1, 2);
  EXPECT_TRUE(contains_weight(reader, quantized));
  EXPECT_TRUE(contains_weight(reader, "model.norm.weight"));
  EXPECT_FALSE(contains_weight(reader, "lm_head.weight"));
  EXPECT_EQ(load_weight(reader, quantized, {5, 48}).data, dequantize(c.quantized.at(quantized)).data);
  EXPECT_EQ(load_weight(reader, "model.norm.weight", {48}).data, c.plain.at("model.norm.weight").data);

  expect_error([&] { load_weight(reader, quantized, {48, 5}); },
               {quantized, "mis-shaped", "[5, 48]", "expected [48, 5]", ".safetensors"});
  expect_error([&] { load_weight(reader, "model.norm.weight", {47}); }, {"model.norm.weight", "[48]", "[47]"});
  expect_error([&] { load_weight(reader, "lm_head.weight", {10, 48}); },
               {"missing tensor 'lm_head.weight'", "neither in full precision", "lm_head.weight.qparams"});
  expect_error([&] { load_quantized(reader, "model.norm.weight"); }, {"'model.norm.weight' is not a quantized tensor"});
}

// ---- corrupted quantized tensors ---------------------------------------------------------------------

// The parts of one quantized weight as plain arrays a test can break before writing them as
// <dir>/model.safetensors.
struct Parts {
  std::vector<uint32_t> packed;
  Shape packed_shape;
  std::vector<float> scales;
  io::DType scales_dtype = io::DType::F32;
  std::vector<uint8_t> zeros;
  std::vector<int32_t> g_idx;
  std::vector<int32_t> params;
  bool write_scales = true;
  bool write_g_idx = true;
};

const std::string kWeight = expert_weight(0, 3, "w2");

Parts parts_of(const QuantizedMatrix& q) {
  return {q.packed, {q.rows, q.words_per_row()}, q.scales, io::DType::F32, q.zeros, q.g_idx,
          {1, q.bits, static_cast<int32_t>(q.group_size), q.symmetric ? 1 : 0, static_cast<int32_t>(q.rows),
           static_cast<int32_t>(q.cols), q.g_idx.empty() ? 0 : 1}};
}

fs::path write_parts(const Parts& p, int64_t rows, int64_t groups, const std::string& tag) {
  const fs::path dir = moqa::test::temp_dir(tag);
  std::vector<io::TensorToWrite> tensors;
  tensors.push_back({kWeight + ".packed", io::DType::U32, p.packed_shape, std::as_bytes(std::span(p.packed))});
  std::vector<std::byte> scales;
  if (p.write_scales) {
    scales = io::convert_from_f32(p.scales_dtype, p.scales);
    tensors.push_back({kWeight + ".scales", p.scales_dtype, {rows, groups}, scales});
  }
  tensors.push_back({kWeight + ".zeros", io::DType::U8, {rows, groups}, std::as_bytes(std::span(p.zeros))});
  if (p.write_g_idx && !p.g_idx.empty()) {
    tensors.push_back({kWeight + ".g_idx", io::DType::I32, {static_cast<int64_t>(p.g_idx.size())}, std::as_bytes(std::span(p.g_idx))});
  }
  tensors.push_back({kWeight + ".qparams", io::DType::I32, {static_cast<int64_t>(p.params.size())}, std::as_bytes(std::span(p.params))});
  io::write_safetensors(dir / "model.safetensors", tensors);
  return dir;
}

// Loads the broken weight and expects an error naming the file, the tensor and whatever else is given.
void expect_load_error(const Parts& p, const QuantizedMatrix& q, std::initializer_list<std::string> fragments) {
  const fs::path dir = write_parts(p, q.rows, q.groups(), "qckpt-corrupt");
  const io::CheckpointReader reader = io::CheckpointReader::open(dir);
  const std::string message = expect_error([&] { load_quantized(reader, kWeight); }, fragments);
  EXPECT_NE(message.find((dir / "model.safetensors").string()), std::string::npos) << message;
  EXPECT_NE(message.find(kWeight), std::string::npos) << message;
}

TEST(QuantCheckpoint, IntactPartsLoad) {
  const QuantizedMatrix q = random_quantized(4, 64, 3, 16, false, true, 5);
  const fs::path dir = write_parts(parts_of(q), q.rows, q.groups(), "qckpt-intact");
  expect_same(load_quantized(io::CheckpointReader::open(dir), kWeight), q, "intact");
}

TEST(QuantCheckpoint, Version1FilesStillLoad) {
  // Written by the version-1 writer path (all scales F32, version 1 in qparams, shard metadata and index).
  const ThreeRankCheckpoint c = write_three_rank_checkpoint("qckpt-v1", 1);
  EXPECT_EQ(read_json(c.dir / "model.safetensors.index.json")["metadata"]["format_version"], 1);
  const io::CheckpointReader reader = open_quantized_checkpoint(c.dir);
  for (const auto& [name, q] : c.quantized) {
    EXPECT_EQ(reader.entry(name + ".scales").dtype, io::DType::F32) << name;
    expect_same(load_quantized(reader, name), q, name);
    EXPECT_EQ(load_dequantized(reader, name).data, dequantize(q).data) << name;
  }
  // Version 1 cannot hold f16 scales: the writer refuses rather than widening them silently.
  const QuantizedMatrix half = random_quantized(2, 32, 4, 16, false, false, 3, ScaleDtype::f16);
  expect_error([&] { write_quantized_shard(moqa::test::temp_dir("qckpt-v1-f16"), 0, 1, {{"w", half}}, {}, {.format_version = 1}); },
               {"'w' has f16 scales", "format_version 1", "expected version >= 2"});
  // A version-1 record whose scales are F16 is refused (version 1 only knows F32 scales).
  const QuantizedMatrix q = random_quantized(4, 64, 3, 16, false, false, 9, ScaleDtype::f16);
  Parts p = parts_of(q);
  p.scales_dtype = io::DType::F16;
  const fs::path dir = write_parts(p, q.rows, q.groups(), "qckpt-v1-f16-record");
  expect_error([&] { load_quantized(io::CheckpointReader::open(dir), kWeight); },
               {"field 'scales'", "has dtype F16", "expected F32"});
  p.params[kParamFormatVersion] = 2;  // the same parts as version 2 load, with f16 scales
  const fs::path dir2 = write_parts(p, q.rows, q.groups(), "qckpt-v2-f16-record");
  expect_same(load_quantized(io::CheckpointReader::open(dir2), kWeight), q, "v2 record");
}

TEST(QuantCheckpoint, CorruptedQuantizedTensorsGiveClearErrors) {
  const QuantizedMatrix q = random_quantized(4, 64, 2, 16, false, true, 6);
  {
    Parts p = parts_of(q);  // one word short per row
    p.packed_shape = {q.rows, q.words_per_row() - 1};
    p.packed.resize(static_cast<size_t>(q.rows * (q.words_per_row() - 1)));
    expect_load_error(p, q, {"field 'packed'", "has shape [4, 3]", "expected [4, 4]", "ceil(cols * bits / 32)"});
  }
  {
    Parts p = parts_of(q);
    p.zeros[3] = 9;
    expect_load_error(p, q, {"zero 3 is 9", "expected 0..3", "2 bits"});
  }
  {
    Parts p = parts_of(q);
    p.params[kParamBits] = 5;
    expect_load_error(p, q, {"'bits' is 5", "expected one of 2, 3, 4, 6, 8"});
  }
  {
    Parts p = parts_of(q);
    p.write_scales = false;
    expect_load_error(p, q, {"field 'scales' is missing", kWeight + ".scales"});
  }
  {
    Parts p = parts_of(q);
    p.scales_dtype = io::DType::F16;
    expect_load_error(p, q, {"field 'scales'", "has dtype F16, expected F32"});
  }
  {
    Parts p = parts_of(q);
    p.scales[2] = std::nanf("");
    expect_load_error(p, q, {"scale 2 is nan", "finite"});
  }
  {
    Parts p = parts_of(q);
    p.g_idx[7] = 4;
    expect_load_error(p, q, {"g_idx[7] is 4", "expected 0..3"});
  }
  {
    Parts p = parts_of(q);
    p.write_g_idx = false;
    expect_load_error(p, q, {"field 'g_idx' is missing"});
  }
  {
    Parts p = parts_of(q);
    p.params[kParamHasGroupIndex] = 0;
    expect_load_error(p, q, {"field 'g_idx' is present", "'has_g_idx' is 0"});
  }
  {
    Parts p = parts_of(q);
    p.params[kParamFormatVersion] = 3;
    expect_load_error(p, q, {"'format_version' is 3", "expected 1..2"});
  }
  {
    Parts p = parts_of(q);
    p.params[kParamGroupSize] = 24;
    expect_load_error(p, q, {"'group_size' is 24", "divisor of cols = 64"});
  }
  {
    Parts p = parts_of(q);
    p.params[kParamRows] = 5;  // every other part still has 4 rows
    expect_load_error(p, q, {"field 'packed'", "has shape [4, 4]", "expected [5, 4]"});
  }
  {
    Parts p = parts_of(q);
    p.params.pop_back();
    expect_load_error(p, q, {"field 'qparams'", "has shape [6]", "expected [7]"});
  }
}

// ---- completeness ------------------------------------------------------------------------------------

TEST(QuantCheckpoint, ADirectoryWithoutTheIndexIsNotLoadable) {
  const fs::path dir = moqa::test::temp_dir("qckpt-no-index");
  const std::map<std::string, QuantizedMatrix> experts{{expert_weight(0, 0), random_quantized(2, 32, 4, 0, true, false, 1)}};
  write_quantized_shard(dir, 0, 2, experts, {});
  write_quantized_shard(dir, 1, 2, {}, {});
  expect_error([&] { open_quantized_checkpoint(dir); },
               {dir.string(), "is incomplete", "2 shard file(s)", "model.safetensors.index.json", "did not finish"});
  expect_error([&] { io::CheckpointReader::open(dir); }, {"model.safetensors.index.json"});
  expect_error([&] { open_quantized_checkpoint(moqa::test::temp_dir("qckpt-empty")); }, {"is not a quantized checkpoint"});
}

TEST(QuantCheckpoint, RewritingAShardInvalidatesTheOldIndex) {
  const ThreeRankCheckpoint c = write_three_rank_checkpoint("qckpt-rewrite");
  ASSERT_TRUE(fs::exists(c.dir / "model.safetensors.index.json"));
  write_quantized_shard(c.dir, 1, 3, c.per_rank[1], {});
  EXPECT_FALSE(fs::exists(c.dir / "model.safetensors.index.json"));
  expect_error([&] { open_quantized_checkpoint(c.dir); }, {"is incomplete"});
}

TEST(QuantCheckpoint, AnIndexOfAnotherFormatIsRefused) {
  const ThreeRankCheckpoint c = write_three_rank_checkpoint("qckpt-foreign-index");
  json index = read_json(c.dir / "model.safetensors.index.json");
  index["metadata"]["format_version"] = 7;
  write_file(c.dir / "model.safetensors.index.json", index.dump());
  expect_error([&] { open_quantized_checkpoint(c.dir); }, {"metadata.format_version is 7", "expected 1..2"});
  index["metadata"].erase("format");
  write_file(c.dir / "model.safetensors.index.json", index.dump());
  expect_error([&] { open_quantized_checkpoint(c.dir); }, {"metadata.format is absent", "moqa-quantized"});
}

TEST(QuantCheckpoint, TheIndexWriterChecksTheManifestsAgainstTheShards) {
  const fs::path source = make_source_model("qckpt-index-source");
  const fs::path dir = moqa::test::temp_dir("qckpt-index-checks");
  const std::map<std::string, QuantizedMatrix> a{{expert_weight(0, 0), random_quantized(2, 32, 4, 0, true, false, 1)}};
  const std::map<std::string, QuantizedMatrix> b{{expert_weight(0, 1), random_quantized(2, 32, 2, 16, false, false, 2)}};
  const ShardManifest m0 = write_quantized_shard(dir, 0, 2, a, {});
  const ShardManifest m1 = write_quantized_shard(dir, 1, 2, b, {});
  const QuantizationSummary summary;

  expect_error([&] { write_quantized_index(dir, source, {m0}, summary); }, {"1 shard manifests for a world size of 2"});
  expect_error([&] { write_quantized_index(dir, source, {m0, m0}, summary); }, {"two manifests for rank 0"});
  ShardManifest twice = m1;
  twice.quantized = m0.quantized;
  expect_error([&] { write_quantized_index(dir, source, {m0, twice}, summary); },
               {"is stored by both", "model-q-00001-of-00002.safetensors", "model-q-00002-of-00002.safetensors"});
  expect_error([&] { write_quantized_index(dir, dir, {m0, m1}, summary); }, {"source model directory"});
  expect_error([&] { write_quantized_index(dir, moqa::test::temp_dir("qckpt-no-config"), {m0, m1}, summary); },
               {"no config.json"});
  fs::rename(dir / m1.file, dir / "moved");
  expect_error([&] { write_quantized_index(dir, source, {m0, m1}, summary); },
               {"shard 'model-q-00002-of-00002.safetensors' of rank 1 does not exist"});
  EXPECT_FALSE(fs::exists(dir / "model.safetensors.index.json"));
  fs::rename(dir / "moved", dir / m1.file);

  // A stale shard of another world size is removed when the index is written.
  write_file(dir / quantized_shard_name(2, 3), "stale");
  write_quantized_index(dir, source, {m1, m0}, summary);
  EXPECT_FALSE(fs::exists(dir / quantized_shard_name(2, 3)));
  const io::CheckpointReader reader = open_quantized_checkpoint(dir);
  expect_same(load_quantized(reader, expert_weight(0, 1)), b.begin()->second, "rank 1");
}

TEST(QuantCheckpoint, InvalidInputWritesNothing) {
  const fs::path dir = moqa::test::temp_dir("qckpt-invalid");
  QuantizedMatrix bad = random_quantized(2, 32, 2, 16, false, false, 3);
  bad.zeros[1] = 4;
  expect_error([&] { write_quantized_shard(dir, 0, 1, {{expert_weight(0, 0), bad}}, {}); },
               {"rank 0 of 1", expert_weight(0, 0), "zero 1 is 4"});
  const QuantizedMatrix good = random_quantized(2, 32, 2, 16, false, false, 3);
  expect_error([&] {
    write_quantized_shard(dir, 0, 1, {{expert_weight(0, 0), good}}, {{expert_weight(0, 0) + ".scales", Tensor({2})}});
  }, {"stored twice"});
  EXPECT_TRUE(fs::is_empty(dir));
}

// ---- dequantized export ------------------------------------------------------------------------------

float bf16_rounded(float value) { return io::bf16_to_f32(io::f32_to_bf16(value)); }

// A realistic checkpoint (RTN-quantized experts of mixed widths, BF16 plain tensors), exported.
struct ExportFixture {
  fs::path quantized_dir;
  std::map<std::string, Tensor> expected;  // float32 values the export stands for (before dtype rounding)
};

ExportFixture make_export_fixture(const std::string& tag) {
  ExportFixture f;
  const fs::path source = make_source_model(tag + "-source");
  f.quantized_dir = moqa::test::temp_dir(tag) / "quantized";
  std::vector<ShardManifest> manifests;
  const int bits[] = {2, 3, 4, 8};
  for (int rank = 0; rank < 2; ++rank) {
    std::map<std::string, QuantizedMatrix> experts;
    for (int e = 0; e < 2; ++e) {
      const std::string name = expert_weight(0, rank * 2 + e);
      const Tensor w = test::random_matrix(6, 32, 40 + static_cast<uint64_t>(rank * 2 + e), 0.02f);
      experts.emplace(name, quantize_rtn(w, {bits[rank * 2 + e], 16, rank == 1}, name));
      f.expected.emplace(name, dequantize(experts.at(name)));
    }
    std::map<std::string, Tensor> plain;
    if (rank == 0) {
      Tensor embed = test::random_matrix(10, 32, 9);
      for (float& v : embed.data) v = bf16_rounded(v);  // a BF16 model: stored without loss
      plain.emplace("model.embed_tokens.weight", embed);
      f.expected.emplace("model.embed_tokens.weight", embed);
    }
    manifests.push_back(write_quantized_shard(f.quantized_dir, rank, 2, experts, plain, {io::DType::BF16}));
  }
  write_quantized_index(f.quantized_dir, source, manifests, {});
  return f;
}

TEST(QuantCheckpoint, DequantizedExportHoldsTheOriginalNamesAndValues) {
  const ExportFixture f = make_export_fixture("qckpt-export");
  const io::CheckpointReader quantized = open_quantized_checkpoint(f.quantized_dir);
  for (const io::DType dtype : {io::DType::BF16, io::DType::F32}) {
    SCOPED_TRACE(std::string(io::dtype_name(dtype)));
    const fs::path out = f.quantized_dir.parent_path() / cat("export-", io::dtype_name(dtype));
    export_dequantized(quantized, out, {dtype, 500});  // small shards: several files

    const json index = read_json(out / "model.safetensors.index.json");
    std::set<std::string> files;
    for (const auto& [name, file] : index["weight_map"].items()) files.insert(file.get<std::string>());
    EXPECT_GT(files.size(), 1u);
    EXPECT_EQ(index["weight_map"].size(), f.expected.size());

    const io::CheckpointReader reader = io::CheckpointReader::open(out);
    EXPECT_EQ(reader.tensor_names().size(), f.expected.size());
    for (const auto& [name, values] : f.expected) {
      EXPECT_EQ(reader.entry(name).dtype, dtype) << name;
      const Tensor got = reader.load(name, values.shape);
      for (size_t i = 0; i < values.data.size(); ++i) {
        const float want = dtype == io::DType::BF16 ? bf16_rounded(values.data[i]) : values.data[i];
        ASSERT_EQ(got.data[i], want) << name << " element " << i;
      }
      EXPECT_EQ(io::SafetensorsFile::open(reader.file_of(name)).metadata().at("format"), "pt");
    }
    const json config = read_json(out / "config.json");
    EXPECT_FALSE(config.contains("quantization_config"));
    EXPECT_EQ(config["model_type"], "mixtral");
    EXPECT_EQ(config["torch_dtype"], dtype == io::DType::BF16 ? "bfloat16" : "float32");
    EXPECT_TRUE(fs::exists(out / "tokenizer.json"));
  }
  expect_error([&] { export_dequantized(quantized, f.quantized_dir); }, {"is the checkpoint itself"});
}

TEST(QuantCheckpoint, NumpyReadsTheDequantizedExport) {
  MOQA_REQUIRE(fs::exists("/usr/bin/python3"), "/usr/bin/python3 not found: the export is not read back by numpy");
  const ExportFixture f = make_export_fixture("qckpt-numpy");
  const fs::path out = f.quantized_dir.parent_path() / "export";
  export_dequantized(open_quantized_checkpoint(f.quantized_dir), out, {io::DType::BF16, 700});

  // An independent reader of the format transformers loads: header layout, alignment, contiguous offsets,
  // BF16 decoding with numpy. Prints "T <name> <shape> <hex values...>" per tensor.
  const fs::path script = f.quantized_dir.parent_path() / "read_export.py";
  write_file(script, R"PY(
import json, os, struct, sys
try:
    import numpy as np
except ImportError:
    print("NO_NUMPY"); sys.exit(77)
d = sys.argv[1]
index = json.load(open(os.path.join(d, "model.safetensors.index.json")))
config = json.load(open(os.path.join(d, "config.json")))
assert "quantization_config" not in config, "config.json still has quantization_config"
assert os.path.exists(os.path.join(d, "tokenizer.json"))
seen = set()
total = 0
for shard in sorted(set(index["weight_map"].values())):
    raw = open(os.path.join(d, shard), "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    assert (8 + n) % 8 == 0, "data section not 8-byte aligned"
    header = json.loads(raw[8:8 + n])
    assert header.pop("__metadata__") == {"format": "pt"}
    data = raw[8 + n:]
    end = 0
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        begin, stop = e["data_offsets"]
        assert begin == end, "gap or overlap before " + name
        end = stop
        assert index["weight_map"][name] == shard
        assert e["dtype"] == "BF16"
        words = np.frombuffer(data[begin:stop], dtype="<u2")
        assert words.size == int(np.prod(e["shape"]))
        values = (words.astype(np.uint32) << 16).view(np.float32)
        print("T", name, "x".join(map(str, e["shape"])), " ".join(float(v).hex() for v in values))
        seen.add(name)
        total += stop - begin
    assert end == len(data), "trailing bytes"
assert seen == set(index["weight_map"]), "index and shards disagree"
assert index["metadata"]["total_size"] == total
print("OK")
)PY");
  const auto result = moqa::test::run_command(cat("/usr/bin/python3 ", script.string(), " ", out.string()));
  MOQA_REQUIRE(result.exit_code != 77, "numpy is not available to /usr/bin/python3: the export is not read back");
  ASSERT_EQ(result.exit_code, 0) << result.output;

  std::istringstream lines(result.output);
  std::string line;
  size_t tensors = 0;
  bool ok = false;
  while (std::getline(lines, line)) {
    if (line == "OK") ok = true;
    if (line.rfind("T ", 0) != 0) continue;
    std::istringstream fields(line.substr(2));
    std::string name, shape;
    fields >> name >> shape;
    ASSERT_TRUE(f.expected.count(name)) << name;
    const Tensor& want = f.expected.at(name);
    EXPECT_EQ(shape, cat(want.dim(0), "x", want.dim(1))) << name;
    std::string hex;
    size_t i = 0;
    for (; fields >> hex; ++i) {
      ASSERT_LT(i, want.data.size()) << name;
      ASSERT_EQ(static_cast<float>(std::strtod(hex.c_str(), nullptr)), bf16_rounded(want.data[i])) << name << " " << i;
    }
    EXPECT_EQ(i, want.data.size()) << name;
    ++tensors;
  }
  EXPECT_TRUE(ok) << result.output;
  EXPECT_EQ(tensors, f.expected.size());
}

}  // namespace
}  // namespace moqa::quant
