// CheckpointReader: single-file and sharded Hugging Face directories, lazy shard mapping, shape checks
// and every kind of broken index.
#include "io/checkpoint.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "io/io_test_util.h"
#include "support/test_support.h"

namespace moqa::io {
namespace {

using moqa::test::expect_error;
using moqa::test::write_file;

// A tensor whose value i is base + i, stored as F32.
void write_shard(const std::filesystem::path& path, const std::vector<std::pair<std::string, Shape>>& tensors, float base = 0) {
  std::vector<std::vector<std::byte>> storage;
  std::vector<TensorToWrite> to_write;
  for (const auto& [name, shape] : tensors) {
    std::vector<float> values(static_cast<size_t>(element_count(shape)));
    for (size_t i = 0; i < values.size(); ++i) values[i] = base + static_cast<float>(i);
    storage.push_back(convert_from_f32(DType::F32, values));
  }
  for (size_t i = 0; i < tensors.size(); ++i) to_write.push_back({tensors[i].first, DType::F32, tensors[i].second, storage[i]});
  write_safetensors(path, to_write);
}

// Two shards: embed + layer 0 in shard 1, layer 1 in shard 2.
std::filesystem::path make_sharded(const std::string& tag) {
  const auto dir = moqa::test::temp_dir(tag);
  write_shard(dir / "model-00001-of-00002.safetensors", {{"embed.weight", {4, 8}}, {"layers.0.w", {8, 8}}}, 100);
  write_shard(dir / "model-00002-of-00002.safetensors", {{"layers.1.w", {8, 2}}}, 200);
  write_file(dir / "model.safetensors.index.json", R"({
    "metadata": {"total_size": 576},
    "weight_map": {
      "embed.weight": "model-00001-of-00002.safetensors",
      "layers.0.w": "model-00001-of-00002.safetensors",
      "layers.1.w": "model-00002-of-00002.safetensors"
    }
  })");
  return dir;
}

TEST(Checkpoint, SingleFile) {
  const auto dir = moqa::test::temp_dir("ckpt-single");
  write_shard(dir / "model.safetensors", {{"b.weight", {4, 8}}, {"a.weight", {3}}}, 1);
  const auto reader = CheckpointReader::open(dir);
  EXPECT_EQ(reader.directory(), dir);
  EXPECT_EQ(reader.tensor_names(), (std::vector<std::string>{"a.weight", "b.weight"}));
  EXPECT_TRUE(reader.contains("a.weight"));
  EXPECT_FALSE(reader.contains("c.weight"));
  EXPECT_EQ(reader.entry("b.weight").shape, (Shape{4, 8}));
  const Tensor a = reader.load("a.weight");
  EXPECT_EQ(a.data, (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(reader.load("b.weight", {4, 8}).data[31], 32.0f);
  ASSERT_EQ(reader.opened_files().size(), 1u);
  EXPECT_EQ(reader.opened_files()[0], dir / "model.safetensors");
}

TEST(Checkpoint, MisShapedTensorIsAClearError) {
  const auto dir = moqa::test::temp_dir("ckpt-misshaped");
  write_shard(dir / "model.safetensors", {{"w", {4, 8}}});
  const auto reader = CheckpointReader::open(dir);
  expect_error([&] { reader.load("w", {8, 4}); }, {dir.string(), "'w'", "mis-shaped", "[4, 8]", "expected [8, 4]"});
}

TEST(Checkpoint, MissingTensorIsAClearError) {
  const auto dir = moqa::test::temp_dir("ckpt-missing-tensor");
  write_shard(dir / "model.safetensors", {{"w", {2}}});
  const auto reader = CheckpointReader::open(dir);
  expect_error([&] { reader.load("model.layers.0.mlp.experts.7.w1.weight"); },
               {dir.string(), "no tensor 'model.layers.0.mlp.experts.7.w1.weight'"});
  expect_error([&] { reader.entry("nope"); }, {"no tensor 'nope'"});
}

TEST(Checkpoint, ShardsAreMappedLazily) {
  const auto dir = make_sharded("ckpt-lazy");
  const auto reader = CheckpointReader::open(dir);
  EXPECT_TRUE(reader.opened_files().empty());
  EXPECT_EQ(reader.tensor_names().size(), 3u);
  const Tensor w = reader.load("layers.1.w", {8, 2});
  EXPECT_EQ(w.data[0], 200.0f);
  ASSERT_EQ(reader.opened_files().size(), 1u);
  EXPECT_EQ(reader.opened_files()[0].filename(), "model-00002-of-00002.safetensors");
  EXPECT_EQ(reader.load("embed.weight").data[3], 103.0f);
  EXPECT_EQ(reader.load("layers.0.w").data[0], 100.0f);
  EXPECT_EQ(reader.opened_files().size(), 2u);
}

TEST(Checkpoint, SingleFileWinsOverIndex) {
  const auto dir = make_sharded("ckpt-both");
  write_shard(dir / "model.safetensors", {{"only", {1}}});
  const auto reader = CheckpointReader::open(dir);
  EXPECT_EQ(reader.tensor_names(), (std::vector<std::string>{"only"}));
}

TEST(Checkpoint, DirectoryErrors) {
  const auto root = moqa::test::temp_dir("ckpt-dir-errors");
  expect_error([&] { CheckpointReader::open(root / "absent"); }, {"absent", "does not exist"});
  expect_error([&] { CheckpointReader::open(root); }, {root.string(), "model.safetensors", "model.safetensors.index.json"});
}

TEST(Checkpoint, IndexErrors) {
  const auto check = [](const std::string& index_text, std::initializer_list<std::string> fragments) {
    const auto dir = make_sharded("ckpt-index");
    write_file(dir / "model.safetensors.index.json", index_text);
    std::vector<std::string> all(fragments);
    all.push_back((dir / "model.safetensors.index.json").string());
    const std::string message = expect_error([&] { CheckpointReader::open(dir); }, {});
    for (const auto& f : all) EXPECT_NE(message.find(f), std::string::npos) << "lacks '" << f << "': " << message;
  };
  check("{\"weight_map\": {", {"not valid JSON"});
  check("[]", {"expected a JSON object"});
  check("{\"metadata\": {}}", {"missing key \"weight_map\""});
  check("{\"weight_map\": [\"a\"]}", {"\"weight_map\" is array"});
  check("{\"weight_map\": {}}", {"\"weight_map\" is empty"});
  check("{\"weight_map\": {\"w\": 3}}", {"weight_map[\"w\"]", "number 3", "shard file name"});
  check("{\"weight_map\": {\"w\": \"model-00003-of-00002.safetensors\"}}", {"shard 'model-00003-of-00002.safetensors'", "missing"});
  check("{\"weight_map\": {\"w\": \"../model-00001-of-00002.safetensors\"}}", {"inside the checkpoint directory"});
  check("{\"weight_map\": {\"w\": \"/etc/passwd\"}}", {"inside the checkpoint directory"});
}

TEST(Checkpoint, TensorListedButAbsentFromItsShard) {
  const auto dir = make_sharded("ckpt-absent-in-shard");
  write_file(dir / "model.safetensors.index.json", R"({"weight_map": {
      "embed.weight": "model-00001-of-00002.safetensors",
      "layers.1.w": "model-00001-of-00002.safetensors"}})");
  const auto reader = CheckpointReader::open(dir);
  EXPECT_EQ(reader.load("embed.weight").shape, (Shape{4, 8}));
  expect_error([&] { reader.load("layers.1.w"); },
               {"model.safetensors.index.json", "'layers.1.w'", "model-00001-of-00002.safetensors", "has no such tensor"});
}

TEST(Checkpoint, CorruptShardIsReportedWhenLoaded) {
  const auto dir = make_sharded("ckpt-corrupt-shard");
  write_file(dir / "model-00002-of-00002.safetensors", "garbage");
  const auto reader = CheckpointReader::open(dir);
  EXPECT_EQ(reader.load("embed.weight").shape, (Shape{4, 8}));
  expect_error([&] { reader.load("layers.1.w"); }, {"model-00002-of-00002.safetensors", "too short"});
}

TEST(CheckpointAssets, QwenSmallThreeShardsLoadsOnlyWhatItNeeds) {
  const auto dir = moqa::test::assets_dir() / "trained/qwen2moe-small";
  MOQA_REQUIRE_ASSET(dir / "model.safetensors.index.json");
  const auto reader = CheckpointReader::open(dir);
  EXPECT_EQ(reader.tensor_names().size(), 251u);
  EXPECT_TRUE(reader.opened_files().empty());

  // An expert of layer 3 lives in shard 3: loading it maps that shard only.
  const Tensor up = reader.load("model.layers.3.mlp.experts.5.up_proj.weight", {256, 256});
  EXPECT_EQ(up.size(), 256 * 256);
  ASSERT_EQ(reader.opened_files().size(), 1u);
  EXPECT_EQ(reader.opened_files()[0].filename(), "model-00003-of-00003.safetensors");

  const Tensor norm = reader.load("model.layers.2.post_attention_layernorm.weight", {256});
  EXPECT_EQ(norm.data[0], 0.99609375f);
  EXPECT_EQ(reader.opened_files().size(), 1u);

  EXPECT_EQ(reader.load("model.embed_tokens.weight", {8192, 256}).size(), 8192 * 256);
  EXPECT_EQ(reader.opened_files().size(), 2u);
  expect_error([&] { reader.load("model.embed_tokens.weight", {256, 8192}); }, {"mis-shaped", "[8192, 256]"});
}

TEST(CheckpointAssets, MixtralTinyIndexWithOneShard) {
  const auto dir = moqa::test::assets_dir() / "trained/mixtral-tiny";
  MOQA_REQUIRE_ASSET(dir / "model.safetensors.index.json");
  const auto reader = CheckpointReader::open(dir);
  EXPECT_TRUE(reader.contains("model.layers.0.block_sparse_moe.experts.3.w1.weight"));
  EXPECT_EQ(reader.entry("model.layers.0.block_sparse_moe.experts.3.w1.weight").dtype, DType::BF16);
  EXPECT_EQ(reader.load("model.layers.0.block_sparse_moe.experts.3.w1.weight", {256, 128}).size(), 256 * 128);
}

TEST(CheckpointAssets, ArchSingleFile) {
  const auto dir = moqa::test::assets_dir() / "arch/deepseek_v3";
  MOQA_REQUIRE_ASSET(dir / "model.safetensors");
  const auto reader = CheckpointReader::open(dir);
  EXPECT_TRUE(reader.contains("model.layers.1.mlp.gate.e_score_correction_bias"));
  EXPECT_EQ(reader.load("model.layers.1.mlp.gate.e_score_correction_bias", {16}).size(), 16);
}

}  // namespace
}  // namespace moqa::io
