#include "model/test_checkpoints.h"

#include <cstring>
#include <fstream>
#include <vector>

#include "io/safetensors.h"
#include "support/test_support.h"

namespace moqa::model::testing {

TensorMap read_tensors(const std::filesystem::path& safetensors) {
  const auto file = io::SafetensorsFile::open(safetensors);
  TensorMap out;
  for (const auto& entry : file.tensors()) out.emplace(entry.name, file.read(entry.name));
  return out;
}

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

void write_model_dir(const std::filesystem::path& dir, const TensorMap& tensors, const nlohmann::json& config) {
  std::filesystem::create_directories(dir);
  std::vector<std::vector<std::byte>> storage;
  std::vector<io::TensorToWrite> list;
  storage.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) {
    std::vector<std::byte>& bytes = storage.emplace_back(tensor.data.size() * sizeof(float));
    std::memcpy(bytes.data(), tensor.data.data(), bytes.size());
    list.push_back({name, io::DType::F32, tensor.shape, bytes});
  }
  io::write_safetensors(dir / "model.safetensors", list);
  std::ofstream(dir / "config.json") << config.dump(1);
}

std::filesystem::path copy_model_dir(const std::filesystem::path& from, const std::string& tag) {
  const auto dir = test::temp_dir(tag);
  std::filesystem::copy_file(from / "config.json", dir / "config.json");
  std::filesystem::copy_file(from / "model.safetensors", dir / "model.safetensors");
  return dir;
}

Tensor random_normal(Shape shape, std::mt19937& rng, float stddev, float mean) {
  std::normal_distribution<float> normal(mean, stddev);
  Tensor t(std::move(shape));
  for (float& v : t.data) v = normal(rng);
  return t;
}

}  // namespace moqa::model::testing
