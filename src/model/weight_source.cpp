#include "model/weight_source.h"

#include <string>

#include "core/error.h"
#include "quant/checkpoint.h"

namespace moqa::model {
namespace {

// A directory holding moqa quantized shards (model-q-*) is opened through quant, which reports a missing
// index as an incomplete quantized checkpoint rather than as a missing model file.
io::CheckpointReader open_checkpoint(const std::filesystem::path& model_dir) {
  std::error_code error;
  if (std::filesystem::is_directory(model_dir, error) && !std::filesystem::exists(model_dir / "model.safetensors")) {
    for (const auto& item : std::filesystem::directory_iterator(model_dir, error)) {
      const std::string name = item.path().filename().string();
      if (name.rfind("model-q-", 0) == 0 && item.path().extension() == ".safetensors")
        return quant::open_quantized_checkpoint(model_dir);
    }
  }
  return io::CheckpointReader::open(model_dir);
}

}  // namespace

CheckpointWeights::CheckpointWeights(const std::filesystem::path& model_dir) : reader_(open_checkpoint(model_dir)) {}

bool CheckpointWeights::contains(const std::string& name) const { return quant::contains_weight(reader_, name); }

Tensor CheckpointWeights::load(const std::string& name, const Shape& shape) const {
  MOQA_CHECK(quant::contains_weight(reader_, name), "checkpoint ", reader_.directory().string(), " has no tensor '",
             name, "' (expected shape ", to_string(shape), ")");
  return quant::load_weight(reader_, name, shape);
}

std::string CheckpointWeights::describe() const { return cat("checkpoint ", reader_.directory().string()); }

}  // namespace moqa::model
