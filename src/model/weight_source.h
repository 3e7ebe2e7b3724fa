#pragma once
// Where a model's weights come from. The model asks for each tensor by its Hugging Face name and the
// shape it expects; a missing or mis-shaped tensor is an error naming both. The default source reads a
// checkpoint directory; later stages can supply their own (e.g. dequantizing a quantized export) so a
// model streamed layer by layer picks up replaced weights every time it loads a layer.
#include <filesystem>
#include <memory>
#include <string>

#include "core/tensor.h"
#include "io/checkpoint.h"

namespace moqa::model {

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual bool contains(const std::string& name) const = 0;
  // float32 values of `name`, which must have exactly `shape`.
  virtual Tensor load(const std::string& name, const Shape& shape) const = 0;
  virtual std::string describe() const = 0;  // for messages: "checkpoint /path/to/model"
};

// A Hugging Face safetensors checkpoint (single file or sharded); F32/F16/BF16 are read into float32.
// Also reads moqa's quantized checkpoints (quant/checkpoint.h): a weight stored quantized is dequantized
// on load, so a quantized model directory can be evaluated like any other.
class CheckpointWeights final : public WeightSource {
 public:
  explicit CheckpointWeights(const std::filesystem::path& model_dir);

  bool contains(const std::string& name) const override;
  Tensor load(const std::string& name, const Shape& shape) const override;
  std::string describe() const override;
  const io::CheckpointReader& reader() const { return reader_; }

 private:
  io::CheckpointReader reader_;
};

}  // namespace moqa::model
