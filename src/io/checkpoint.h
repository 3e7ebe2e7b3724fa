#pragma once
// A Hugging Face checkpoint directory: model.safetensors, or shards listed by
// model.safetensors.index.json ({"metadata": {...}, "weight_map": {tensor: shard file}}). Shards are
// opened lazily, so a rank that loads only its own experts only maps the shards that hold them. Every
// const method may be called from several threads at once (a model reads its next layer ahead).
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"
#include "io/safetensors.h"

namespace moqa::io {

class CheckpointReader {
 public:
  // Reads the index (or the single file's header). Errors name the directory and what is missing.
  static CheckpointReader open(const std::filesystem::path& model_dir);

  const std::filesystem::path& directory() const { return dir_; }
  bool contains(std::string_view tensor) const;
  std::vector<std::string> tensor_names() const;  // sorted
  const TensorEntry& entry(std::string_view tensor) const;
  // Loads as float32; the second form also checks the shape ("... has shape [4, 8], expected [8, 4]").
  Tensor load(std::string_view tensor) const;
  Tensor load(std::string_view tensor, const Shape& expected_shape) const;
  // The tensor's stored little-endian bytes, unconverted (not necessarily aligned; valid while the reader
  // lives): for integer data float32 cannot hold exactly, such as packed uint32 codes.
  std::span<const std::byte> raw_bytes(std::string_view tensor) const;
  // The shard file that holds `tensor` (for messages).
  std::filesystem::path file_of(std::string_view tensor) const;
  // The shard files that have been mapped so far (tests check that a rank maps only what it needs).
  std::vector<std::filesystem::path> opened_files() const;

 private:
  const SafetensorsFile& shard_for(std::string_view tensor) const;

  std::filesystem::path dir_;
  std::map<std::string, std::string, std::less<>> weight_map_;  // tensor -> shard file name
  mutable std::map<std::string, std::unique_ptr<SafetensorsFile>, std::less<>> shards_;  // under shards_mutex_
  std::unique_ptr<std::mutex> shards_mutex_ = std::make_unique<std::mutex>();  // (a pointer keeps the reader movable)
};

}  // namespace moqa::io
