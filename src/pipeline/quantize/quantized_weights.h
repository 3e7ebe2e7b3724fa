#pragma once
// The quantized model as one rank holds it (RunContext::quantized_weights): a WeightSource that serves
// the quantized tensors this rank has - dequantized on load, with any channel cache applied - and passes
// every other tensor through to the original checkpoint. It keeps the packed QuantizedMatrix objects
// (bits/32 of the float size, plus scales), never dense copies, so it stays small next to the model.
//
// Ranks hold different tensors: each its own routed experts, all of them the replicated quantized
// weights (attention, router, ... when not kept). While the quantize stage builds it, a tensor not
// quantized yet is served from the original (the pass runs layer L in full precision before quantizing
// it); once sealed, a tensor that is quantized somewhere in the model but not held here (another rank's
// expert) is an error when asked for, never silently the original.
#include <map>
#include <memory>
#include <set>
#include <string>

#include "model/weight_source.h"
#include "quant/channel_cache.h"
#include "quant/format.h"

namespace moqa::pipeline {

class QuantizedWeights final : public model::WeightSource {
 public:
  struct Entry {
    std::shared_ptr<const quant::QuantizedMatrix> matrix;
    quant::ChannelCache cache;  // empty unless channel adjustment caches channels of this tensor
  };

  // quantized_names: every tensor the model quantizes (on any rank).
  QuantizedWeights(std::shared_ptr<const model::WeightSource> original, std::set<std::string> quantized_names,
                   std::string description = "quantized model");

  // Only while the quantize stage builds it (before it is sealed and shared as a const source).
  void add(const std::string& name, quant::QuantizedMatrix matrix, quant::ChannelCache cache = {});
  void seal() { sealed_ = true; }

  // A copy serving other cached values for some tensors (a novel distribution's re-quantized channels);
  // the matrices are shared, not copied. Every name must be held with a cache of the same channels.
  std::shared_ptr<QuantizedWeights> with_caches(const std::map<std::string, quant::ChannelCache>& caches,
                                                std::string description) const;

  const std::map<std::string, Entry>& entries() const { return entries_; }
  const Entry* entry(const std::string& name) const;
  const std::set<std::string>& quantized_names() const { return quantized_names_; }
  const model::WeightSource& original() const { return *original_; }

  // The float32 values the model gets for a held tensor.
  Tensor served(const std::string& name) const;

  bool contains(const std::string& name) const override;
  Tensor load(const std::string& name, const Shape& shape) const override;
  std::string describe() const override;

 private:
  std::shared_ptr<const model::WeightSource> original_;
  std::set<std::string> quantized_names_;
  std::string description_;
  std::map<std::string, Entry> entries_;
  bool sealed_ = false;
};

}  // namespace moqa::pipeline
