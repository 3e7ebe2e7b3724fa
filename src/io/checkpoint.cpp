#include "io/checkpoint.h"

#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "io/json_file.h"

namespace moqa::io {

namespace {

using json = nlohmann::json;

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

// Shard names come from a file we do not control: they must stay inside the checkpoint directory.
void check_shard_name(const std::filesystem::path& index, const std::string& tensor, const std::string& shard) {
  const std::filesystem::path p(shard);
  bool escapes = shard.empty() || p.is_absolute();
  for (const auto& part : p) escapes = escapes || part == "..";
  MOQA_CHECK(!escapes, index.string(), ": weight_map[\"", tensor, "\"] is \"", shard,
             "\", expected a file name inside the checkpoint directory");
}

}  // namespace

CheckpointReader CheckpointReader::open(const std::filesystem::path& model_dir) {
  CheckpointReader reader;
  reader.dir_ = model_dir;
  MOQA_CHECK(std::filesystem::is_directory(model_dir), "model directory '", model_dir.string(),
             "' does not exist or is not a directory");

  // Like transformers: a single model.safetensors wins over an index.
  const auto single = model_dir / kSingleFile;
  if (std::filesystem::exists(single)) {
    auto file = std::make_unique<SafetensorsFile>(SafetensorsFile::open(single));
    for (const auto& entry : file->tensors()) reader.weight_map_.emplace(entry.name, kSingleFile);
    reader.shards_.emplace(kSingleFile, std::move(file));
    return reader;
  }

  const auto index_path = model_dir / kIndexFile;
  MOQA_CHECK(std::filesystem::exists(index_path), "model directory '", model_dir.string(), "' has neither ", kSingleFile,
             " nor ", kIndexFile, " (expected a Hugging Face safetensors checkpoint)");
  const json index = read_json_file(index_path, "checkpoint index");
  MOQA_CHECK(index.is_object(), index_path.string(), ": expected a JSON object with \"weight_map\", found ", index.type_name());
  const auto map = index.find("weight_map");
  MOQA_CHECK(map != index.end(), index_path.string(), ": missing key \"weight_map\" (expected {tensor name: shard file})");
  MOQA_CHECK(map->is_object(), index_path.string(), ": \"weight_map\" is ", map->type_name(),
             ", expected an object {tensor name: shard file}");
  MOQA_CHECK(!map->empty(), index_path.string(), ": \"weight_map\" is empty");

  std::set<std::string> shard_names;
  for (const auto& [tensor, shard] : map->items()) {
    MOQA_CHECK(shard.is_string(), index_path.string(), ": weight_map[\"", tensor, "\"] is ", shard.type_name(),
               " ", shard.dump(), ", expected a shard file name (string)");
    const auto& shard_name = shard.get_ref<const std::string&>();
    check_shard_name(index_path, tensor, shard_name);
    reader.weight_map_.emplace(tensor, shard_name);
    shard_names.insert(shard_name);
  }
  for (const auto& shard_name : shard_names) {
    MOQA_CHECK(std::filesystem::is_regular_file(model_dir / shard_name), index_path.string(), ": shard '", shard_name,
               "' listed in weight_map is missing from ", model_dir.string());
  }
  return reader;
}

bool CheckpointReader::contains(std::string_view tensor) const { return weight_map_.find(tensor) != weight_map_.end(); }

std::vector<std::string> CheckpointReader::tensor_names() const {
  std::vector<std::string> names;
  names.reserve(weight_map_.size());
  for (const auto& [name, shard] : weight_map_) names.push_back(name);
  return names;
}

const SafetensorsFile& CheckpointReader::shard_for(std::string_view tensor) const {
  const auto it = weight_map_.find(tensor);
  MOQA_CHECK(it != weight_map_.end(), "checkpoint ", dir_.string(), " has no tensor '", tensor, "' (it holds ",
             weight_map_.size(), " tensors)");
  const std::lock_guard lock(*shards_mutex_);
  auto shard = shards_.find(it->second);
  if (shard == shards_.end()) {
    auto file = std::make_unique<SafetensorsFile>(SafetensorsFile::open(dir_ / it->second));
    shard = shards_.emplace(it->second, std::move(file)).first;
  }
  return *shard->second;
}

const TensorEntry& CheckpointReader::entry(std::string_view tensor) const {
  const SafetensorsFile& shard = shard_for(tensor);
  const TensorEntry* found = shard.find(tensor);
  MOQA_CHECK(found, (dir_ / kIndexFile).string(), " lists tensor '", tensor, "' in shard '", shard.path().filename().string(),
             "', but ", shard.path().string(), " has no such tensor");
  return *found;
}

Tensor CheckpointReader::load(std::string_view tensor) const { return shard_for(tensor).read(entry(tensor)); }

Tensor CheckpointReader::load(std::string_view tensor, const Shape& expected_shape) const {
  const TensorEntry& found = entry(tensor);
  MOQA_CHECK(found.shape == expected_shape, "checkpoint ", dir_.string(), ": tensor '", tensor, "' is mis-shaped: it has shape ",
             to_string(found.shape), " in ", shard_for(tensor).path().filename().string(), ", expected ",
             to_string(expected_shape));
  return load(tensor);
}

std::span<const std::byte> CheckpointReader::raw_bytes(std::string_view tensor) const {
  return shard_for(tensor).bytes(entry(tensor));
}

std::filesystem::path CheckpointReader::file_of(std::string_view tensor) const { return shard_for(tensor).path(); }

std::vector<std::filesystem::path> CheckpointReader::opened_files() const {
  std::vector<std::filesystem::path> files;
  const std::lock_guard lock(*shards_mutex_);
  for (const auto& [name, shard] : shards_) files.push_back(shard->path());
  return files;
}

}  // namespace moqa::io
