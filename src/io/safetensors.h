#pragma once
// safetensors (https://github.com/huggingface/safetensors): 8-byte little-endian header length N, N bytes
// of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the data
// section. Files are memory-mapped; a tensor's bytes are only touched when it is read.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"

namespace moqa::io {

// F8_E4M3 / F8_E5M2: the 8-bit floats of FP8 checkpoints (DeepSeek-V3); read by value, the per-block
// scales stored next to them are the model's business.
enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, U32, BOOL, U16, U64, F8_E4M3, F8_E5M2 };

std::string_view dtype_name(DType dtype);               // "F32", as written in the header
bool parse_dtype(std::string_view name, DType* dtype);  // false for names moqa does not know
size_t dtype_bytes(DType dtype);
std::string known_dtype_names();  // "F64, F32, ..." for error messages

struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  uint64_t begin = 0;  // byte offsets relative to the start of the data section
  uint64_t end = 0;

  int64_t element_count() const;  // never overflows: validated when the header was read
};

// Read-only memory map of a whole file (RAII: unmapped and closed on destruction).
class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

class SafetensorsFile {
 public:
  // Maps the file and validates the whole header (length, JSON, dtypes, shapes, offsets inside the
  // file, no overlaps). Throws moqa::Error naming the file, the tensor and the byte offset at fault.
  static SafetensorsFile open(const std::filesystem::path& path);

  const std::filesystem::path& path() const;
  const std::vector<TensorEntry>& tensors() const { return tensors_; }  // sorted by data offset
  const TensorEntry* find(std::string_view name) const;                 // nullptr when absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // The tensor's raw little-endian bytes inside the mapping. Not necessarily aligned to the element
  // size (safetensors does not require it): copy or memcpy rather than reinterpret_cast.
  std::span<const std::byte> bytes(const TensorEntry& entry) const;
  uint64_t data_start() const { return data_start_; }  // file offset of the data section (8 + N)
  // Converts any floating or integer dtype to float32. Throws naming the file when `name` is absent.
  Tensor read(std::string_view name) const;
  Tensor read(const TensorEntry& entry) const;  // `entry` must be one of tensors()

 private:
  std::shared_ptr<const MappedFile> file_;
  uint64_t data_start_ = 0;
  std::vector<TensorEntry> tensors_;
  std::map<std::string, size_t, std::less<>> by_name_;
  std::map<std::string, std::string> metadata_;
};

// Converts `count` elements of `dtype` at `src` to float32 (F16/BF16/F8 exactly, F64 and integers by
// value, rounded to nearest).
void convert_to_f32(DType dtype, const std::byte* src, size_t count, float* dst);
// The reverse for the float formats moqa writes (F32, F16, BF16): round to nearest even, overflow to
// infinity, NaN stays NaN. Throws for other dtypes.
std::vector<std::byte> convert_from_f32(DType dtype, std::span<const float> values);

// Single-value conversions behind the two functions above (exposed for tests and kernels' references).
float f16_to_f32(uint16_t bits);
float bf16_to_f32(uint16_t bits);
uint16_t f32_to_f16(float value);
uint16_t f32_to_bf16(float value);

struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  std::span<const std::byte> bytes;  // exactly element_count(shape) * dtype_bytes(dtype)
};

// Writes a safetensors file atomically: to "<path>.tmp.<pid>", then rename. Tensors keep the given order.
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace moqa::io
