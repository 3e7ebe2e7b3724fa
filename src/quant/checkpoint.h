#pragma once
// The quantized checkpoint: a Hugging Face-style sharded safetensors directory holding each quantized
// linear weight as packed codes + scales + zeros (+ g_idx) + a small parameter record, next to the tensors
// kept in full precision. Every rank writes its own shard without talking to the others; the coordinator
// writes model.safetensors.index.json last, from the gathered shard manifests, so a directory without the
// index is incomplete by construction. Also: the dequantized export other tools (transformers) can load.
// The on-disk layout is specified in docs/FORMATS.md, "Quantized checkpoint"; change code and text together.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "quant/channel_cache.h"
#include "quant/format.h"

namespace moqa::quant {

inline constexpr const char* kQuantizedFormatName = "moqa-quantized";
// Version 2: scales may be F16 (QuantizedMatrix::scale_dtype; the pipeline's default). Version 1 (scales
// always F32, otherwise the same layout) is still read, and written on request (ShardWriteOptions).
inline constexpr int kQuantizedFormatVersion = 2;
inline constexpr int kOldestReadableFormatVersion = 1;

// Tensors stored for a quantized weight with Hugging Face name N are named N + suffix.
inline constexpr const char* kPackedSuffix = ".packed";    // U32 [rows, words_per_row]
inline constexpr const char* kScalesSuffix = ".scales";    // F16 or F32 [rows, groups] (version 1: F32)
inline constexpr const char* kZerosSuffix = ".zeros";      // U8  [rows, groups]
inline constexpr const char* kGroupIndexSuffix = ".g_idx"; // I32 [cols], only when the matrix has one
inline constexpr const char* kParamsSuffix = ".qparams";   // I32 [7], see QuantParamsField
// Optional (version 2 only): the weight's full-precision channel cache (quant/channel_cache.h), whose values
// are served instead of the codes at those entries. Present exactly when the manifest lists a cache.
inline constexpr const char* kCacheColumnsSuffix = ".cache_columns";       // I32 [k], strictly ascending
inline constexpr const char* kCacheColumnValuesSuffix = ".cache_column_values";  // F32 [rows, k]
inline constexpr const char* kCacheRowsSuffix = ".cache_rows";             // I32 [m], strictly ascending
inline constexpr const char* kCacheRowValuesSuffix = ".cache_row_values";  // F32 [m, cols]

// Positions in the N.qparams vector.
enum QuantParamsField : int {
  kParamFormatVersion = 0,
  kParamBits = 1,
  kParamGroupSize = 2,  // effective (cols for per-channel)
  kParamSymmetric = 3,  // 0 or 1
  kParamRows = 4,
  kParamCols = 5,
  kParamHasGroupIndex = 6,  // 0 or 1: whether N.g_idx must exist
  kParamCount = 7,
};

// "model-q-00002-of-00004.safetensors" for rank 1 of 4.
std::string quantized_shard_name(int rank, int world_size);

// What one quantized weight is, as recorded in a manifest and in config.json.
struct QuantizedTensorInfo {
  std::string name;  // Hugging Face name of the original weight
  int bits = 0;
  int64_t group_size = 0;
  bool symmetric = false;
  int64_t rows = 0;
  int64_t cols = 0;
  bool has_g_idx = false;
  int64_t cache_columns = 0;  // channel cache: cached input columns (0: none stored)
  int64_t cache_rows = 0;     // cached output rows
};

struct PlainTensorInfo {
  std::string name;
  int64_t elements = 0;
};

// What one rank wrote: returned by write_quantized_shard, gathered (e.g. as manifest_to_json strings) to
// the coordinator, which passes all of them to write_quantized_index.
struct ShardManifest {
  std::string file;  // shard file name inside the checkpoint directory
  int rank = 0;
  int world_size = 1;
  std::vector<QuantizedTensorInfo> quantized;
  std::vector<PlainTensorInfo> full_precision;
  uint64_t data_bytes = 0;  // size of the shard's data section
  int format_version = kQuantizedFormatVersion;  // every shard of a checkpoint has the same
};

// Every tensor name the shard stores (the parts of each quantized weight, then the plain tensors).
std::vector<std::string> stored_tensor_names(const ShardManifest& manifest);

std::string manifest_to_json(const ShardManifest& manifest);
// Throws moqa::Error naming `source` and the key when the text is not a manifest.
ShardManifest manifest_from_json(std::string_view text, std::string_view source = "shard manifest");

struct ShardWriteOptions {
  // dtype of the full-precision tensors (pass the model's own dtype: BF16 for the published MoE models
  // stores them without loss; F32 is always lossless).
  io::DType full_precision_dtype = io::DType::F32;
  // kQuantizedFormatVersion, or 1 for readers that predate F16 scales (refused for a matrix with f16 scales).
  int format_version = kQuantizedFormatVersion;
};

// Writes <dir>/quantized_shard_name(rank, world_size) atomically: the quantized weights (validated first)
// and the full-precision tensors this rank was given. Creates `dir` and removes a stale index (so a
// directory being rewritten never looks complete). Throws before writing anything on invalid input.
ShardManifest write_quantized_shard(const std::filesystem::path& dir, int rank, int world_size,
                                    const std::map<std::string, QuantizedMatrix>& quantized,
                                    const std::map<std::string, Tensor>& full_precision,
                                    const ShardWriteOptions& options = {},
                                    const std::map<std::string, ChannelCache>& caches = {});

// Recorded in config.json's "quantization_config" (the per-weight bits come from the manifests).
struct QuantizationSummary {
  std::string method = "rtn";      // quantizer: "rtn" | "gptq"
  std::string allocation;          // bit allocation method ("uniform", "moqa", ...), may be empty
  int64_t group_size = 128;        // as configured (<= 0: per-channel)
  bool symmetric = false;
  bool act_order = false;
  bool true_sequential = false;
  std::vector<std::string> full_precision;  // what the configuration keeps unquantized ("attention", ...)
};

// The coordinator's last step, after every rank's shard exists: checks the manifests (one per rank of the
// same world size, no tensor stored twice, every shard file present and holding what its manifest says),
// copies config.json from `source_model_dir` with a "quantization_config" block, copies tokenizer.json
// and the other tokenizer/generation files that exist, removes shards of this naming scheme left from an
// earlier run with another world size, and finally writes model.safetensors.index.json.
void write_quantized_index(const std::filesystem::path& dir, const std::filesystem::path& source_model_dir,
                           const std::vector<ShardManifest>& shards, const QuantizationSummary& summary);

// Opens a quantized checkpoint: like io::CheckpointReader::open, but a directory whose index is missing
// is reported as an incomplete quantized checkpoint, and an index of another format (version) is refused.
io::CheckpointReader open_quantized_checkpoint(const std::filesystem::path& dir);

// Whether the checkpoint stores `name` quantized (i.e. holds name + ".qparams").
bool is_quantized(const io::CheckpointReader& reader, std::string_view name);
// Reads and fully validates a quantized weight: dtypes and shapes of every part against the parameters,
// supported bits, group size, word counts, zero and g_idx ranges, finite scales. Errors name the file,
// the tensor and the field.
QuantizedMatrix load_quantized(const io::CheckpointReader& reader, std::string_view name);
// The channel cache stored with quantized weight `name` (empty when it has none), validated against its shape.
ChannelCache load_channel_cache(const io::CheckpointReader& reader, std::string_view name);
// The weights served: the dequantized codes with the stored channel cache applied.
Tensor load_dequantized(const io::CheckpointReader& reader, std::string_view name);

// One call for the model loader: the plain tensor `name` if stored, else the dequantized quantized
// weight, else an error saying that neither exists. The shape must equal expected_shape.
bool contains_weight(const io::CheckpointReader& reader, std::string_view name);
Tensor load_weight(const io::CheckpointReader& reader, std::string_view name, const Shape& expected_shape);

struct DequantizedExportOptions {
  io::DType dtype = io::DType::BF16;           // BF16 or F32 (also F16)
  uint64_t max_shard_bytes = 2ull << 30;       // a shard is closed before it would exceed this
};

// Writes a plain Hugging Face checkpoint with the original tensor names to `out_dir`: every quantized weight
// dequantized, every floating-point plain tensor converted to options.dtype (other dtypes copied as
// stored), shards model-0000i-of-0000N.safetensors + model.safetensors.index.json (written last),
// config.json without "quantization_config" and with torch_dtype set to the export dtype, tokenizer files
// copied. `out_dir` must differ from the checkpoint directory.
void export_dequantized(const io::CheckpointReader& reader, const std::filesystem::path& out_dir,
                        const DequantizedExportOptions& options = {});

}  // namespace moqa::quant
