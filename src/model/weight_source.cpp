#include "model/weight_source.h"

#include "core/error.h"

namespace moqa::model {

CheckpointWeights::CheckpointWeights(const std::filesystem::path& model_dir)
    : reader_(io::CheckpointReader::open(model_dir)) {}

bool CheckpointWeights::contains(const std::string& name) const { return reader_.contains(name); }

Tensor CheckpointWeights::load(const std::string& name, const Shape& shape) const {
  MOQA_CHECK(reader_.contains(name), "checkpoint ", reader_.directory().string(), " has no tensor '", name,
             "' (expected shape ", to_string(shape), ")");
  return reader_.load(name, shape);
}

std::string CheckpointWeights::describe() const { return cat("checkpoint ", reader_.directory().string()); }

}  // namespace moqa::model
