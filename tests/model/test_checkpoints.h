#pragma once
// Building and doctoring small checkpoints in tests: read every tensor of a safetensors file, change
// names/shapes/configs, and write a model directory (config.json + model.safetensors, F32).
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "core/tensor.h"

namespace moqa::model::testing {

using TensorMap = std::map<std::string, Tensor>;

TensorMap read_tensors(const std::filesystem::path& safetensors);
nlohmann::json read_json(const std::filesystem::path& path);
void write_model_dir(const std::filesystem::path& dir, const TensorMap& tensors, const nlohmann::json& config);
// A copy of the model directory `from` (config.json + model.safetensors) in a fresh temp dir.
std::filesystem::path copy_model_dir(const std::filesystem::path& from, const std::string& tag);

Tensor random_normal(Shape shape, std::mt19937& rng, float stddev, float mean = 0.0f);

}  // namespace moqa::model::testing
