#include "pipeline/quantize/quantized_weights.h"

#include "core/error.h"

namespace moqa::pipeline {

QuantizedWeights::QuantizedWeights(std::shared_ptr<const model::WeightSource> original,
                                   std::set<std::string> quantized_names, std::string description)
    : original_(std::move(original)),
      quantized_names_(std::move(quantized_names)),
      description_(std::move(description)) {
  MOQA_CHECK(original_ != nullptr, "quantized weights: no original weight source");
}

void QuantizedWeights::add(const std::string& name, quant::QuantizedMatrix matrix, quant::ChannelCache cache) {
  MOQA_CHECK(!sealed_, "quantized weights: '", name, "' added after the quantized model was sealed");
  MOQA_CHECK(quantized_names_.count(name), "quantized weights: '", name,
             "' is not one of the tensors the plan quantizes");
  MOQA_CHECK(!entries_.count(name), "quantized weights: '", name, "' was quantized twice");
  MOQA_CHECK(cache.empty() || (cache.matrix_rows == matrix.rows && cache.matrix_cols == matrix.cols),
             "quantized weights: channel cache of '", name, "' is for a [", cache.matrix_rows, ", ", cache.matrix_cols,
             "] matrix, the tensor is [", matrix.rows, ", ", matrix.cols, "]");
  entries_.emplace(name, Entry{std::make_shared<const quant::QuantizedMatrix>(std::move(matrix)), std::move(cache)});
}

std::shared_ptr<QuantizedWeights> QuantizedWeights::with_caches(
    const std::map<std::string, quant::ChannelCache>& caches, std::string description) const {
  auto copy = std::make_shared<QuantizedWeights>(*this);
  copy->description_ = std::move(description);
  for (const auto& [name, cache] : caches) {
    const auto it = copy->entries_.find(name);
    MOQA_CHECK(it != copy->entries_.end(), "quantized weights: no tensor '", name, "' to re-cache");
    MOQA_CHECK(cache.columns == it->second.cache.columns && cache.rows == it->second.cache.rows,
               "quantized weights: the new cache of '", name, "' covers other channels than the baseline's");
    it->second.cache = cache;
  }
  return copy;
}

const QuantizedWeights::Entry* QuantizedWeights::entry(const std::string& name) const {
  const auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

Tensor QuantizedWeights::served(const std::string& name) const {
  const Entry* e = entry(name);
  MOQA_CHECK(e != nullptr, describe(), ": '", name, "' is not held by this rank");
  return quant::dequantize_with_cache(*e->matrix, e->cache, name);
}

bool QuantizedWeights::contains(const std::string& name) const {
  return entries_.count(name) > 0 || ((!sealed_ || !quantized_names_.count(name)) && original_->contains(name));
}

Tensor QuantizedWeights::load(const std::string& name, const Shape& shape) const {
  if (entries_.count(name)) {
    Tensor values = served(name);
    MOQA_CHECK(values.shape == shape, describe(), ": '", name, "' has shape ", to_string(values.shape), ", expected ",
               to_string(shape));
    return values;
  }
  MOQA_CHECK(!sealed_ || !quantized_names_.count(name), describe(), ": '", name,
             "' is quantized on another rank (its owner); this rank does not hold it");
  return original_->load(name, shape);
}

std::string QuantizedWeights::describe() const { return cat(description_, " over ", original_->describe()); }

}  // namespace moqa::pipeline
