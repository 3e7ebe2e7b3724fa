#include "quant/checkpoint.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <utility>

#include "core/error.h"
#include "io/atomic_file.h"

namespace moqa::quant {

// The parts are copied byte for byte between files and memory: safetensors is little-endian.
static_assert(std::endian::native == std::endian::little, "the quantized checkpoint assumes a little-endian host");

namespace {

using json = nlohmann::ordered_json;
namespace fs = std::filesystem;

constexpr const char* kIndexFile = "model.safetensors.index.json";
constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kConfigFile = "config.json";
// Copied next to the weights when the source has them, so tokenizers and generation settings travel along.
constexpr const char* kAuxiliaryFiles[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                           "tokenizer.model", "generation_config.json"};
const std::regex kQuantizedShardPattern(R"(model-q-\d{5}-of-\d{5}\.safetensors)");
const std::regex kExportShardPattern(R"(model-\d{5}-of-\d{5}\.safetensors)");

// ---- files -------------------------------------------------------------------------------------------

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  MOQA_CHECK(in, "cannot open '", path.string(), "'");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Line and column of a byte offset, for JSON syntax errors.
std::string line_column(const std::string& text, size_t byte) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return cat(line, ":", column);
}

json read_json_object(const fs::path& path) {
  const std::string text = read_text(path);
  json value;
  try {
    value = json::parse(text);
  } catch (const json::parse_error& e) {
    fail(path.string(), ":", line_column(text, e.byte == 0 ? 0 : e.byte - 1), ": not valid JSON: ", e.what());
  }
  MOQA_CHECK(value.is_object(), path.string(), ": expected a JSON object, found ", value.type_name());
  return value;
}

void copy_file_atomic(const fs::path& from, const fs::path& to) {
  io::AtomicOutput output(to);
  std::error_code error;
  fs::copy_file(from, output.temp_path(), fs::copy_options::overwrite_existing, error);
  MOQA_CHECK(!error, "cannot copy '", from.string(), "' to '", output.temp_path().string(), "': ", error.message());
  output.commit();
}

void copy_auxiliary_files(const fs::path& from_dir, const fs::path& to_dir) {
  for (const char* name : kAuxiliaryFiles) {
    if (fs::is_regular_file(from_dir / name)) copy_file_atomic(from_dir / name, to_dir / name);
  }
}

void remove_file(const fs::path& path) {
  std::error_code error;
  fs::remove(path, error);
  MOQA_CHECK(!error, "cannot remove '", path.string(), "': ", error.message());
}

// Shards of our own naming scheme that the new index does not list (an earlier run with another shard
// count) would only confuse a reader of the directory.
void remove_stale_shards(const fs::path& dir, const std::regex& pattern, const std::set<std::string>& keep) {
  for (const auto& item : fs::directory_iterator(dir)) {
    const std::string name = item.path().filename().string();
    if (item.is_regular_file() && std::regex_match(name, pattern) && !keep.count(name)) remove_file(item.path());
  }
}

// Outputs go to a directory that must not already hold a single-file checkpoint: model.safetensors would
// win over the index we write (as it does in transformers), silently hiding our shards.
void prepare_output_dir(const fs::path& dir, std::string_view who) {
  std::error_code error;
  fs::create_directories(dir, error);  // several ranks may race here; only the outcome matters
  MOQA_CHECK(fs::is_directory(dir), who, ": cannot create output directory '", dir.string(), "'",
             error ? cat(": ", error.message()) : std::string());
  MOQA_CHECK(!fs::exists(dir / kSingleFile), who, ": output directory '", dir.string(), "' already holds ", kSingleFile,
             ", which would shadow the sharded checkpoint written here; use an empty directory");
  // Whatever index is there describes an earlier, different checkpoint: without it the directory reads
  // as incomplete until the new index is written.
  remove_file(dir / kIndexFile);
}

bool same_directory(const fs::path& a, const fs::path& b) {
  std::error_code error;
  return fs::weakly_canonical(a, error) == fs::weakly_canonical(b, error);
}

void write_index(const fs::path& dir, const std::map<std::string, std::string>& weight_map, json metadata) {
  json index = json::object();
  index["metadata"] = std::move(metadata);
  index["weight_map"] = json::object();
  for (const auto& [tensor, shard] : weight_map) index["weight_map"][tensor] = shard;
  io::write_file_atomic(dir / kIndexFile, index.dump(2) + "\n");
}

std::string shard_name(const char* prefix, int64_t number, int64_t count) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%s%05lld-of-%05lld.safetensors", prefix, static_cast<long long>(number),
                static_cast<long long>(count));
  return buffer;
}

// Wider elements first (stable otherwise): the data section starts 8-byte aligned, so every tensor then
// starts aligned to its own element size, which lets a reader map the arrays in place.
void order_for_alignment(std::vector<io::TensorToWrite>& tensors) {
  std::stable_sort(tensors.begin(), tensors.end(), [](const io::TensorToWrite& x, const io::TensorToWrite& y) {
    return io::dtype_bytes(x.dtype) > io::dtype_bytes(y.dtype);
  });
}

template <class T>
std::span<const std::byte> bytes_of(const std::vector<T>& values) {
  return std::as_bytes(std::span<const T>(values));
}

// ---- reading the parts of a quantized weight ---------------------------------------------------------

std::string part_name(std::string_view weight, const char* suffix) { return cat(weight, suffix); }

// Field names in messages are the suffixes without the dot: "packed", "scales", ...
std::string_view field_of(const char* suffix) { return std::string_view(suffix).substr(1); }

struct PartRequest {
  const char* suffix;
  io::DType dtype;
  Shape shape;
  std::string shape_reason;  // how the expected shape follows from the parameters
};

template <class T>
std::vector<T> read_part(const io::CheckpointReader& reader, std::string_view weight, const fs::path& params_file,
                         const PartRequest& request) {
  const std::string part = part_name(weight, request.suffix);
  MOQA_CHECK(reader.contains(part), params_file.string(), ": quantized tensor '", weight, "': field '",
             field_of(request.suffix), "' is missing (the checkpoint has no tensor '", part, "')");
  const io::TensorEntry& entry = reader.entry(part);
  const fs::path file = reader.file_of(part);
  MOQA_CHECK(entry.dtype == request.dtype, file.string(), ": quantized tensor '", weight, "': field '",
             field_of(request.suffix), "' ('", part, "') has dtype ", io::dtype_name(entry.dtype), ", expected ",
             io::dtype_name(request.dtype));
  MOQA_CHECK(entry.shape == request.shape, file.string(), ": quantized tensor '", weight, "': field '",
             field_of(request.suffix), "' ('", part, "') has shape ", to_string(entry.shape), ", expected ",
             to_string(request.shape), " (", request.shape_reason, ")");
  static_assert(sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4);
  std::vector<T> values(static_cast<size_t>(element_count(request.shape)));
  const auto bytes = reader.raw_bytes(part);
  MOQA_CHECK(bytes.size() == values.size() * sizeof(T), file.string(), ": tensor '", part, "' holds ", bytes.size(),
             " bytes, expected ", values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(values.data(), bytes.data(), bytes.size());
  return values;
}

// The parameter record, checked field by field before any shape is derived from it.
struct StoredParams {
  QuantizedTensorInfo info;
  fs::path file;
  int format_version = 0;
};

StoredParams read_params(const io::CheckpointReader& reader, std::string_view name) {
  const std::string params_name = part_name(name, kParamsSuffix);
  MOQA_CHECK(reader.contains(params_name), "checkpoint ", reader.directory().string(), ": '", name,
             "' is not a quantized tensor (there is no '", params_name, "')");
  StoredParams out;
  out.file = reader.file_of(params_name);
  const auto values = read_part<int32_t>(reader, name, out.file,
                                         {kParamsSuffix, io::DType::I32, {kParamCount},
                                          "format_version, bits, group_size, symmetric, rows, cols, has_g_idx"});
  const auto where = [&](const char* field) {
    return cat(out.file.string(), ": quantized tensor '", name, "': field 'qparams' entry '", field, "'");
  };
  const int32_t version = values[kParamFormatVersion];
  MOQA_CHECK(version >= kOldestReadableFormatVersion && version <= kQuantizedFormatVersion, where("format_version"),
             " is ", version, ", expected ", kOldestReadableFormatVersion, "..", kQuantizedFormatVersion, " (the ",
             kQuantizedFormatName, " versions this moqa reads)");
  out.format_version = version;
  QuantizedTensorInfo& info = out.info;
  info.name = std::string(name);
  info.bits = values[kParamBits];
  info.group_size = values[kParamGroupSize];
  info.rows = values[kParamRows];
  info.cols = values[kParamCols];
  MOQA_CHECK(is_supported_bits(info.bits), where("bits"), " is ", info.bits, ", expected one of 2, 3, 4, 6, 8");
  MOQA_CHECK(info.rows >= 0, where("rows"), " is ", info.rows, ", expected >= 0");
  MOQA_CHECK(info.cols > 0, where("cols"), " is ", info.cols, ", expected > 0");
  MOQA_CHECK(info.group_size > 0 && info.cols % info.group_size == 0, where("group_size"), " is ", info.group_size,
             ", expected a positive divisor of cols = ", info.cols);
  for (const auto& [field, index] : {std::pair{"symmetric", kParamSymmetric}, std::pair{"has_g_idx", kParamHasGroupIndex}}) {
    MOQA_CHECK(values[index] == 0 || values[index] == 1, where(field), " is ", values[index], ", expected 0 or 1");
  }
  info.symmetric = values[kParamSymmetric] == 1;
  info.has_g_idx = values[kParamHasGroupIndex] == 1;
  return out;
}

// Whether `name` is one of the stored parts of some quantized weight.
bool is_quantized_part(const io::CheckpointReader& reader, const std::string& name) {
  for (const char* suffix : {kPackedSuffix, kScalesSuffix, kZerosSuffix, kGroupIndexSuffix, kParamsSuffix,
                             kCacheColumnsSuffix, kCacheColumnValuesSuffix, kCacheRowsSuffix, kCacheRowValuesSuffix}) {
    const std::string_view s(suffix);
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0 &&
        reader.contains(cat(std::string_view(name).substr(0, name.size() - s.size()), kParamsSuffix))) {
      return true;
    }
  }
  return false;
}

// Cached channel indices: strictly ascending, in [0, extent).
void check_cache_indices(const std::vector<int64_t>& indices, int64_t extent, const std::string& what) {
  for (size_t i = 0; i < indices.size(); ++i) {
    MOQA_CHECK(indices[i] >= 0 && indices[i] < extent, what, " index ", indices[i], " at position ", i,
               " is out of range 0..", extent - 1);
    MOQA_CHECK(i == 0 || indices[i] > indices[i - 1], what, " indices are not strictly ascending at position ", i,
               " (", indices[i - 1], ", ", indices[i], ")");
  }
}

// ---- config.json -------------------------------------------------------------------------------------

// "model.layers.3.block_sparse_moe.experts.5.w1.weight" -> "model.layers.3.block_sparse_moe.experts.5";
// empty for weights outside routed experts.
std::string expert_of(const std::string& weight) {
  static const std::regex pattern(R"((.*\.experts\.\d+)\..*)");
  std::smatch match;
  return std::regex_match(weight, match, pattern) ? match[1].str() : std::string();
}

json quantization_config(const std::vector<ShardManifest>& shards, const QuantizationSummary& summary) {
  std::map<std::string, const QuantizedTensorInfo*> quantized;
  std::set<std::string> plain;
  int64_t plain_parameters = 0;
  for (const auto& shard : shards) {
    for (const auto& q : shard.quantized) quantized.emplace(q.name, &q);
    for (const auto& p : shard.full_precision) {
      plain.insert(p.name);
      plain_parameters += p.elements;
    }
  }
  struct Mean {
    double bit_parameters = 0;
    int64_t parameters = 0;
    std::set<int> widths;
  };
  Mean all;
  std::map<std::string, Mean> experts;
  json bits = json::object();
  for (const auto& [name, info] : quantized) {
    bits[name] = info->bits;
    const auto add = [&](Mean& mean) {
      const int64_t parameters = info->rows * info->cols;
      mean.bit_parameters += static_cast<double>(info->bits) * static_cast<double>(parameters);
      mean.parameters += parameters;
      mean.widths.insert(info->bits);
    };
    add(all);
    if (const std::string expert = expert_of(name); !expert.empty()) add(experts[expert]);
  }
  const auto mean_bits = [](const Mean& m) -> json {
    if (m.widths.size() == 1) return *m.widths.begin();
    return m.parameters > 0 ? m.bit_parameters / static_cast<double>(m.parameters) : 0.0;
  };
  json per_expert = json::object();
  for (const auto& [expert, mean] : experts) per_expert[expert] = mean_bits(mean);

  json config = json::object();
  config["quant_method"] = "moqa";
  config["format"] = kQuantizedFormatName;
  config["method"] = summary.method;
  config["allocation"] = summary.allocation;
  config["group_size"] = summary.group_size > 0 ? summary.group_size : -1;
  config["symmetric"] = summary.symmetric;
  config["act_order"] = summary.act_order;
  config["true_sequential"] = summary.true_sequential;
  config["average_bits"] = all.parameters > 0 ? json(all.bit_parameters / static_cast<double>(all.parameters)) : json(nullptr);
  config["quantized_parameters"] = all.parameters;
  config["full_precision_parameters"] = plain_parameters;
  config["bits_per_expert"] = std::move(per_expert);
  config["bits"] = std::move(bits);
  config["full_precision"] = summary.full_precision;
  config["full_precision_tensors"] = plain;
  return config;
}

const char* torch_dtype_name(io::DType dtype) {
  switch (dtype) {
    case io::DType::BF16: return "bfloat16";
    case io::DType::F16: return "float16";
    default: return "float32";
  }
}

bool is_float_dtype(io::DType dtype) {
  return dtype == io::DType::F64 || dtype == io::DType::F32 || dtype == io::DType::F16 || dtype == io::DType::BF16;
}

}  // namespace

// ---- names and manifests -----------------------------------------------------------------------------

std::string quantized_shard_name(int rank, int world_size) {
  MOQA_CHECK(world_size >= 1 && world_size <= 99999, "quantized checkpoint: world size ", world_size,
             " out of range 1..99999");
  MOQA_CHECK(rank >= 0 && rank < world_size, "quantized checkpoint: rank ", rank, " out of range 0..", world_size - 1);
  return shard_name("model-q-", rank + 1, world_size);
}

std::vector<std::string> stored_tensor_names(const ShardManifest& manifest) {
  std::vector<std::string> names;
  for (const auto& q : manifest.quantized) {
    for (const char* suffix : {kPackedSuffix, kScalesSuffix, kZerosSuffix}) names.push_back(part_name(q.name, suffix));
    if (q.has_g_idx) names.push_back(part_name(q.name, kGroupIndexSuffix));
    names.push_back(part_name(q.name, kParamsSuffix));
    if (q.cache_columns > 0)
      for (const char* suffix : {kCacheColumnsSuffix, kCacheColumnValuesSuffix}) names.push_back(part_name(q.name, suffix));
    if (q.cache_rows > 0)
      for (const char* suffix : {kCacheRowsSuffix, kCacheRowValuesSuffix}) names.push_back(part_name(q.name, suffix));
  }
  for (const auto& p : manifest.full_precision) names.push_back(p.name);
  return names;
}

std::string manifest_to_json(const ShardManifest& manifest) {
  json out = json::object();
  out["file"] = manifest.file;
  out["rank"] = manifest.rank;
  out["world_size"] = manifest.world_size;
  out["data_bytes"] = manifest.data_bytes;
  out["format_version"] = manifest.format_version;
  out["quantized"] = json::array();
  for (const auto& q : manifest.quantized) {
    out["quantized"].push_back({{"name", q.name}, {"bits", q.bits}, {"group_size", q.group_size},
                                {"symmetric", q.symmetric}, {"rows", q.rows}, {"cols", q.cols},
                                {"has_g_idx", q.has_g_idx}, {"cache_columns", q.cache_columns},
                                {"cache_rows", q.cache_rows}});
  }
  out["full_precision"] = json::array();
  for (const auto& p : manifest.full_precision) out["full_precision"].push_back({{"name", p.name}, {"elements", p.elements}});
  return out.dump();
}

ShardManifest manifest_from_json(std::string_view text, std::string_view source) {
  ShardManifest manifest;
  try {
    const json in = json::parse(text);
    MOQA_CHECK(in.is_object(), source, ": expected a JSON object, found ", in.type_name());
    in.at("file").get_to(manifest.file);
    in.at("rank").get_to(manifest.rank);
    in.at("world_size").get_to(manifest.world_size);
    in.at("data_bytes").get_to(manifest.data_bytes);
    in.at("format_version").get_to(manifest.format_version);
    for (const auto& q : in.at("quantized")) {
      QuantizedTensorInfo info;
      q.at("name").get_to(info.name);
      q.at("bits").get_to(info.bits);
      q.at("group_size").get_to(info.group_size);
      q.at("symmetric").get_to(info.symmetric);
      q.at("rows").get_to(info.rows);
      q.at("cols").get_to(info.cols);
      q.at("has_g_idx").get_to(info.has_g_idx);
      info.cache_columns = q.value("cache_columns", int64_t{0});  // absent in manifests without caches
      info.cache_rows = q.value("cache_rows", int64_t{0});
      manifest.quantized.push_back(std::move(info));
    }
    for (const auto& p : in.at("full_precision")) {
      manifest.full_precision.push_back({p.at("name").get<std::string>(), p.at("elements").get<int64_t>()});
    }
  } catch (const json::exception& e) {
    fail(source, ": not a shard manifest: ", e.what());
  }
  return manifest;
}

// ---- writing -----------------------------------------------------------------------------------------

ShardManifest write_quantized_shard(const fs::path& dir, int rank, int world_size,
                                    const std::map<std::string, QuantizedMatrix>& quantized,
                                    const std::map<std::string, Tensor>& full_precision,
                                    const ShardWriteOptions& options,
                                    const std::map<std::string, ChannelCache>& caches) {
  ShardManifest manifest;
  manifest.file = quantized_shard_name(rank, world_size);
  manifest.rank = rank;
  manifest.world_size = world_size;
  const std::string who = cat("write_quantized_shard (rank ", rank, " of ", world_size, ", ", (dir / manifest.file).string(), ")");
  const io::DType plain_dtype = options.full_precision_dtype;
  MOQA_CHECK(plain_dtype == io::DType::F32 || plain_dtype == io::DType::F16 || plain_dtype == io::DType::BF16, who,
             ": full-precision dtype ", io::dtype_name(plain_dtype), " is not one of F32, F16, BF16");

  const int version = options.format_version;
  MOQA_CHECK(version >= kOldestReadableFormatVersion && version <= kQuantizedFormatVersion, who, ": format_version ",
             version, ", expected ", kOldestReadableFormatVersion, "..", kQuantizedFormatVersion);
  manifest.format_version = version;

  // Everything is checked before the file is touched.
  constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
  for (const auto& [name, q] : quantized) {
    MOQA_CHECK(!name.empty(), who, ": a quantized tensor has an empty name");
    validate(q, cat(who, ": quantized tensor '", name, "'"));
    MOQA_CHECK(q.rows <= kInt32Max && q.cols <= kInt32Max, who, ": quantized tensor '", name, "' shape [", q.rows, ", ",
               q.cols, "] does not fit the int32 parameter record");
    MOQA_CHECK(!full_precision.count(name), who, ": tensor '", name, "' is given both quantized and in full precision");
    MOQA_CHECK(version >= 2 || q.scale_dtype == ScaleDtype::f32, who, ": quantized tensor '", name,
               "' has f16 scales, which format_version ", version, " cannot store (expected version >= 2)");
    QuantizedTensorInfo info{name, q.bits, q.group_size, q.symmetric, q.rows, q.cols, !q.g_idx.empty()};
    if (const auto cache = caches.find(name); cache != caches.end() && !cache->second.empty()) {
      const ChannelCache& c = cache->second;
      MOQA_CHECK(version >= 2, who, ": quantized tensor '", name, "' has a channel cache, which format_version ",
                 version, " cannot store (expected version >= 2)");
      MOQA_CHECK(c.matrix_rows == q.rows && c.matrix_cols == q.cols, who, ": the channel cache of '", name,
                 "' belongs to a [", c.matrix_rows, ", ", c.matrix_cols, "] matrix, expected [", q.rows, ", ", q.cols, "]");
      check_cache_indices(c.columns, q.cols, cat(who, ": the channel cache of '", name, "': column"));
      check_cache_indices(c.rows, q.rows, cat(who, ": the channel cache of '", name, "': row"));
      MOQA_CHECK(c.column_values.size() == c.columns.size() * static_cast<size_t>(q.rows) &&
                     c.row_values.size() == c.rows.size() * static_cast<size_t>(q.cols),
                 who, ": the channel cache of '", name, "' holds the wrong number of values");
      info.cache_columns = static_cast<int64_t>(c.columns.size());
      info.cache_rows = static_cast<int64_t>(c.rows.size());
    }
    manifest.quantized.push_back(std::move(info));
  }
  for (const auto& [name, c] : caches)
    MOQA_CHECK(c.empty() || quantized.count(name), who, ": a channel cache is given for '", name,
               "', which is not among the quantized tensors");
  for (const auto& [name, tensor] : full_precision) {
    MOQA_CHECK(!name.empty(), who, ": a full-precision tensor has an empty name");
    MOQA_CHECK(tensor.size() == element_count(tensor.shape), who, ": full-precision tensor '", name, "' has shape ",
               to_string(tensor.shape), " but ", tensor.size(), " values");
    manifest.full_precision.push_back({name, tensor.size()});
  }
  std::set<std::string> names;
  for (const auto& name : stored_tensor_names(manifest)) {
    MOQA_CHECK(names.insert(name).second, who, ": tensor name '", name,
               "' would be stored twice (a full-precision tensor named like a part of a quantized weight?)");
  }

  // Owned bytes (parameter records, converted plain tensors); the quantized arrays are written in place.
  std::vector<std::vector<int32_t>> params;
  params.reserve(3 * quantized.size());  // parameter records and cache indices: no reallocation (spans)
  std::vector<std::vector<std::byte>> converted;
  converted.reserve(full_precision.size() + quantized.size());
  std::vector<io::TensorToWrite> tensors;
  for (const auto& [name, q] : quantized) {
    const Shape grid{q.rows, q.groups()};
    tensors.push_back({part_name(name, kPackedSuffix), io::DType::U32, {q.rows, q.words_per_row()}, bytes_of(q.packed)});
    if (q.scale_dtype == ScaleDtype::f16) {  // exact: validate() checked every scale is a half value
      converted.push_back(io::convert_from_f32(io::DType::F16, q.scales));
      tensors.push_back({part_name(name, kScalesSuffix), io::DType::F16, grid, std::span<const std::byte>(converted.back())});
    } else {
      tensors.push_back({part_name(name, kScalesSuffix), io::DType::F32, grid, bytes_of(q.scales)});
    }
    tensors.push_back({part_name(name, kZerosSuffix), io::DType::U8, grid, bytes_of(q.zeros)});
    if (!q.g_idx.empty()) tensors.push_back({part_name(name, kGroupIndexSuffix), io::DType::I32, {q.cols}, bytes_of(q.g_idx)});
    std::vector<int32_t> record(kParamCount);
    record[kParamFormatVersion] = version;
    record[kParamBits] = q.bits;
    record[kParamGroupSize] = static_cast<int32_t>(q.group_size);
    record[kParamSymmetric] = q.symmetric ? 1 : 0;
    record[kParamRows] = static_cast<int32_t>(q.rows);
    record[kParamCols] = static_cast<int32_t>(q.cols);
    record[kParamHasGroupIndex] = q.g_idx.empty() ? 0 : 1;
    params.push_back(std::move(record));
    tensors.push_back({part_name(name, kParamsSuffix), io::DType::I32, {kParamCount}, bytes_of(params.back())});
    if (const auto cache = caches.find(name); cache != caches.end() && !cache->second.empty()) {
      const ChannelCache& c = cache->second;
      const auto k = static_cast<int64_t>(c.columns.size()), m = static_cast<int64_t>(c.rows.size());
      if (k > 0) {
        params.emplace_back(c.columns.begin(), c.columns.end());
        tensors.push_back({part_name(name, kCacheColumnsSuffix), io::DType::I32, {k}, bytes_of(params.back())});
        tensors.push_back({part_name(name, kCacheColumnValuesSuffix), io::DType::F32, {q.rows, k}, bytes_of(c.column_values)});
      }
      if (m > 0) {
        params.emplace_back(c.rows.begin(), c.rows.end());
        tensors.push_back({part_name(name, kCacheRowsSuffix), io::DType::I32, {m}, bytes_of(params.back())});
        tensors.push_back({part_name(name, kCacheRowValuesSuffix), io::DType::F32, {m, q.cols}, bytes_of(c.row_values)});
      }
    }
  }
  for (const auto& [name, tensor] : full_precision) {
    converted.push_back(io::convert_from_f32(plain_dtype, tensor.data));
    tensors.push_back({name, plain_dtype, tensor.shape, std::span<const std::byte>(converted.back())});
  }
  for (const auto& tensor : tensors) manifest.data_bytes += tensor.bytes.size();

  order_for_alignment(tensors);
  prepare_output_dir(dir, who);
  io::write_safetensors(dir / manifest.file, tensors,
                        {{"format", kQuantizedFormatName},
                         {"format_version", std::to_string(version)},
                         {"rank", std::to_string(rank)},
                         {"world_size", std::to_string(world_size)},
                         {"qparams", "format_version,bits,group_size,symmetric,rows,cols,has_g_idx"}});
  return manifest;
}

void write_quantized_index(const fs::path& dir, const fs::path& source_model_dir, const std::vector<ShardManifest>& shards,
                           const QuantizationSummary& summary) {
  const std::string who = cat("write_quantized_index (", dir.string(), ")");
  MOQA_CHECK(fs::is_directory(dir), who, ": the directory does not exist (no rank wrote a shard)");
  MOQA_CHECK(!shards.empty(), who, ": no shard manifests given");
  MOQA_CHECK(!same_directory(dir, source_model_dir), who, ": the output directory is the source model directory");
  MOQA_CHECK(!fs::exists(dir / kSingleFile), who, ": ", kSingleFile, " in the output directory would shadow the index");
  const int world_size = shards.front().world_size;
  const int version = shards.front().format_version;
  for (const auto& shard : shards)
    MOQA_CHECK(shard.format_version == version, who, ": the manifest of '", shard.file, "' has format_version ",
               shard.format_version, ", expected ", version, " like the first");
  MOQA_CHECK(static_cast<int64_t>(shards.size()) == world_size, who, ": ", shards.size(),
             " shard manifests for a world size of ", world_size, " (expected one per rank)");

  std::vector<const ShardManifest*> by_rank(shards.size(), nullptr);
  for (const auto& shard : shards) {
    MOQA_CHECK(shard.world_size == world_size, who, ": the manifest of '", shard.file, "' has world size ",
               shard.world_size, ", expected ", world_size, " like the others");
    MOQA_CHECK(shard.rank >= 0 && shard.rank < world_size, who, ": the manifest of '", shard.file, "' has rank ",
               shard.rank, ", expected 0..", world_size - 1);
    MOQA_CHECK(!by_rank[static_cast<size_t>(shard.rank)], who, ": two manifests for rank ", shard.rank);
    MOQA_CHECK(shard.file == quantized_shard_name(shard.rank, world_size), who, ": the manifest of rank ", shard.rank,
               " names file '", shard.file, "', expected '", quantized_shard_name(shard.rank, world_size), "'");
    by_rank[static_cast<size_t>(shard.rank)] = &shard;
  }

  std::map<std::string, std::string> weight_map;
  std::set<std::string> quantized_names;
  std::set<std::string> shard_files;
  uint64_t total_bytes = 0;
  for (const ShardManifest* shard : by_rank) {
    const fs::path path = dir / shard->file;
    MOQA_CHECK(fs::is_regular_file(path), who, ": shard '", shard->file, "' of rank ", shard->rank,
               " does not exist (did that rank finish writing?)");
    const io::SafetensorsFile file = io::SafetensorsFile::open(path);
    for (const auto& name : stored_tensor_names(*shard)) {
      const auto [it, inserted] = weight_map.emplace(name, shard->file);
      MOQA_CHECK(inserted, who, ": tensor '", name, "' is stored by both '", it->second, "' and '", shard->file, "'");
      MOQA_CHECK(file.find(name), who, ": the manifest of rank ", shard->rank, " lists tensor '", name, "' but ",
                 path.string(), " does not hold it (a stale shard from another run?)");
    }
    for (const auto& q : shard->quantized) quantized_names.insert(q.name);
    shard_files.insert(shard->file);
    total_bytes += shard->data_bytes;
  }
  for (const auto& name : quantized_names) {
    MOQA_CHECK(!weight_map.count(name), who, ": '", name, "' is stored both quantized and in full precision");
  }
  MOQA_CHECK(!weight_map.empty(), who, ": the shards hold no tensors");

  const fs::path source_config = source_model_dir / kConfigFile;
  MOQA_CHECK(fs::is_regular_file(source_config), who, ": the source model has no ", kConfigFile, " (looked for '",
             source_config.string(), "')");
  json config = read_json_object(source_config);
  config["quantization_config"] = quantization_config(shards, summary);
  config["quantization_config"]["format_version"] = version;
  io::write_file_atomic(dir / kConfigFile, config.dump(2) + "\n");
  copy_auxiliary_files(source_model_dir, dir);
  remove_stale_shards(dir, kQuantizedShardPattern, shard_files);

  json metadata = json::object();
  metadata["total_size"] = total_bytes;
  metadata["format"] = kQuantizedFormatName;
  metadata["format_version"] = version;
  metadata["world_size"] = world_size;
  write_index(dir, weight_map, std::move(metadata));  // last: from now on the directory reads as complete
}

// ---- reading -----------------------------------------------------------------------------------------

io::CheckpointReader open_quantized_checkpoint(const fs::path& dir) {
  MOQA_CHECK(fs::is_directory(dir), "quantized checkpoint '", dir.string(), "' does not exist or is not a directory");
  MOQA_CHECK(!fs::exists(dir / kSingleFile), "quantized checkpoint '", dir.string(), "' holds ", kSingleFile,
             ", which is not part of the ", kQuantizedFormatName, " format (it would shadow the index)");
  const fs::path index_path = dir / kIndexFile;
  if (!fs::exists(index_path)) {
    int shards = 0;
    for (const auto& item : fs::directory_iterator(dir)) {
      shards += std::regex_match(item.path().filename().string(), kQuantizedShardPattern) ? 1 : 0;
    }
    MOQA_CHECK(shards == 0, "quantized checkpoint '", dir.string(), "' is incomplete: it has ", shards,
               " shard file(s) but no ", kIndexFile, ", which the coordinator writes last, once every rank's shard "
               "exists (the run that wrote it did not finish; rerun the quantization)");
    fail("'", dir.string(), "' is not a quantized checkpoint: it has no ", kIndexFile);
  }
  const json index = read_json_object(index_path);
  const auto metadata = index.find("metadata");
  MOQA_CHECK(metadata != index.end() && metadata->is_object(), index_path.string(),
             ": missing object \"metadata\" (expected {\"format\": \"", kQuantizedFormatName, "\", ...})");
  const auto format = metadata->find("format");
  MOQA_CHECK(format != metadata->end() && *format == kQuantizedFormatName, index_path.string(), ": metadata.format is ",
             format == metadata->end() ? std::string("absent") : format->dump(), ", expected \"", kQuantizedFormatName,
             "\" (this is not a moqa quantized checkpoint)");
  const auto version = metadata->find("format_version");
  MOQA_CHECK(version != metadata->end() && version->is_number_integer() &&
                 version->get<int64_t>() >= kOldestReadableFormatVersion &&
                 version->get<int64_t>() <= kQuantizedFormatVersion,
             index_path.string(), ": metadata.format_version is ",
             version == metadata->end() ? std::string("absent") : version->dump(), ", expected ",
             kOldestReadableFormatVersion, "..", kQuantizedFormatVersion);
  return io::CheckpointReader::open(dir);
}

bool is_quantized(const io::CheckpointReader& reader, std::string_view name) {
  return reader.contains(part_name(name, kParamsSuffix));
}

QuantizedMatrix load_quantized(const io::CheckpointReader& reader, std::string_view name) {
  const StoredParams params = read_params(reader, name);
  const QuantizedTensorInfo& info = params.info;
  QuantizedMatrix q;
  q.rows = info.rows;
  q.cols = info.cols;
  q.bits = info.bits;
  q.group_size = info.group_size;
  q.symmetric = info.symmetric;
  const Shape grid{q.rows, q.groups()};
  const std::string grid_reason = cat("rows = ", q.rows, ", groups = cols / group_size = ", q.groups());
  q.packed = read_part<uint32_t>(reader, name, params.file,
                                 {kPackedSuffix, io::DType::U32, {q.rows, q.words_per_row()},
                                  cat("rows = ", q.rows, ", words per row = ceil(cols * bits / 32) = ", q.words_per_row())});
  // Version 2 stores the scales as F16 or F32 (the tensor's dtype says which), version 1 as F32 only.
  const std::string scales_part = part_name(name, kScalesSuffix);
  const bool f16_scales = params.format_version >= 2 && reader.contains(scales_part) &&
                          reader.entry(scales_part).dtype == io::DType::F16;
  if (f16_scales) {
    const auto half = read_part<uint16_t>(reader, name, params.file, {kScalesSuffix, io::DType::F16, grid, grid_reason});
    q.scales.resize(half.size());
    for (size_t i = 0; i < half.size(); ++i) q.scales[i] = io::f16_to_f32(half[i]);
    q.scale_dtype = ScaleDtype::f16;
  } else {
    q.scales = read_part<float>(reader, name, params.file, {kScalesSuffix, io::DType::F32, grid, grid_reason});
  }
  q.zeros = read_part<uint8_t>(reader, name, params.file, {kZerosSuffix, io::DType::U8, grid, grid_reason});
  if (info.has_g_idx) {
    q.g_idx = read_part<int32_t>(reader, name, params.file,
                                 {kGroupIndexSuffix, io::DType::I32, {q.cols}, cat("cols = ", q.cols)});
  } else {
    MOQA_CHECK(!reader.contains(part_name(name, kGroupIndexSuffix)), params.file.string(), ": quantized tensor '", name,
               "': field 'g_idx' is present but qparams entry 'has_g_idx' is 0");
  }
  validate(q, cat(params.file.string(), ": quantized tensor '", name, "'"));
  return q;
}

ChannelCache load_channel_cache(const io::CheckpointReader& reader, std::string_view name) {
  const StoredParams params = read_params(reader, name);
  const int64_t rows = params.info.rows, cols = params.info.cols;
  const auto count = [&](const char* suffix) -> int64_t {
    const std::string part = part_name(name, suffix);
    if (!reader.contains(part)) return 0;
    const Shape& shape = reader.entry(part).shape;
    MOQA_CHECK(shape.size() == 1, reader.file_of(part).string(), ": quantized tensor '", name, "': field '",
               field_of(suffix), "' has shape ", to_string(shape), ", expected [channels]");
    return shape[0];
  };
  const int64_t k = count(kCacheColumnsSuffix), m = count(kCacheRowsSuffix);
  const std::string why = "the cache's index vector";
  std::vector<int64_t> columns, rows_;
  std::vector<float> column_values, row_values;
  if (k > 0 || reader.contains(part_name(name, kCacheColumnValuesSuffix))) {
    const auto idx = read_part<int32_t>(reader, name, params.file, {kCacheColumnsSuffix, io::DType::I32, {k}, why});
    columns.assign(idx.begin(), idx.end());
    column_values = read_part<float>(reader, name, params.file,
                                     {kCacheColumnValuesSuffix, io::DType::F32, {rows, k}, cat("rows = ", rows, ", k = ", k)});
  }
  if (m > 0 || reader.contains(part_name(name, kCacheRowValuesSuffix))) {
    const auto idx = read_part<int32_t>(reader, name, params.file, {kCacheRowsSuffix, io::DType::I32, {m}, why});
    rows_.assign(idx.begin(), idx.end());
    row_values = read_part<float>(reader, name, params.file,
                                  {kCacheRowValuesSuffix, io::DType::F32, {m, cols}, cat("m = ", m, ", cols = ", cols)});
  }
  if (columns.empty() && rows_.empty()) return {};
  MOQA_CHECK(params.format_version >= 2, params.file.string(), ": quantized tensor '", name,
             "' stores a channel cache, which format_version ", params.format_version, " does not have");
  const std::string where = cat(params.file.string(), ": quantized tensor '", name, "': channel cache");
  check_cache_indices(columns, cols, cat(where, " column"));
  check_cache_indices(rows_, rows, cat(where, " row"));
  return {.matrix_rows = rows, .matrix_cols = cols, .columns = std::move(columns),
          .column_values = std::move(column_values), .rows = std::move(rows_), .row_values = std::move(row_values)};
}

Tensor load_dequantized(const io::CheckpointReader& reader, std::string_view name) {
  const std::string where = cat(reader.directory().string(), ": quantized tensor '", name, "'");
  return dequantize_with_cache(load_quantized(reader, name), load_channel_cache(reader, name), where);
}

bool contains_weight(const io::CheckpointReader& reader, std::string_view name) {
  return reader.contains(name) || is_quantized(reader, name);
}

Tensor load_weight(const io::CheckpointReader& reader, std::string_view name, const Shape& expected_shape) {
  if (reader.contains(name)) return reader.load(name, expected_shape);
  MOQA_CHECK(is_quantized(reader, name), "checkpoint ", reader.directory().string(), " is missing tensor '", name,
             "': it is stored neither in full precision ('", name, "') nor quantized ('", part_name(name, kParamsSuffix),
             "')");
  const StoredParams params = read_params(reader, name);
  const Shape stored{params.info.rows, params.info.cols};
  MOQA_CHECK(stored == expected_shape, params.file.string(), ": quantized tensor '", name, "' is mis-shaped: it has shape ",
             to_string(stored), ", expected ", to_string(expected_shape));
  return load_dequantized(reader, name);
}

// ---- dequantized export ------------------------------------------------------------------------------

void export_dequantized(const io::CheckpointReader& reader, const fs::path& out_dir, const DequantizedExportOptions& options) {
  const std::string who = cat("export_dequantized (", reader.directory().string(), " -> ", out_dir.string(), ")");
  MOQA_CHECK(options.dtype == io::DType::BF16 || options.dtype == io::DType::F32 || options.dtype == io::DType::F16, who,
             ": export dtype ", io::dtype_name(options.dtype), " is not one of BF16, F16, F32");
  MOQA_CHECK(options.max_shard_bytes > 0, who, ": max_shard_bytes must be positive");
  MOQA_CHECK(!same_directory(reader.directory(), out_dir), who, ": the output directory is the checkpoint itself");
  const fs::path source_config = reader.directory() / kConfigFile;
  MOQA_CHECK(fs::is_regular_file(source_config), who, ": the checkpoint has no ", kConfigFile, " (looked for '",
             source_config.string(), "')");

  // What to write, in name order, with each tensor's output dtype and shape.
  struct Item {
    std::string name;
    bool quantized = false;
    io::DType dtype = io::DType::F32;
    Shape shape;
    uint64_t bytes = 0;
  };
  std::vector<Item> items;
  std::map<std::string, bool> logical;  // output name -> stored quantized; sorted
  for (const auto& name : reader.tensor_names()) {
    const std::string_view s(kParamsSuffix);
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      logical.emplace(name.substr(0, name.size() - s.size()), true);
    } else if (!is_quantized_part(reader, name)) {
      logical.emplace(name, false);
    }
  }
  for (const auto& [name, quantized] : logical) {
    Item item;
    item.name = name;
    item.quantized = quantized;
    if (item.quantized) {
      const StoredParams params = read_params(reader, name);
      item.dtype = options.dtype;
      item.shape = {params.info.rows, params.info.cols};
    } else {
      const io::TensorEntry& entry = reader.entry(name);
      item.dtype = is_float_dtype(entry.dtype) ? options.dtype : entry.dtype;
      item.shape = entry.shape;
    }
    item.bytes = static_cast<uint64_t>(element_count(item.shape)) * io::dtype_bytes(item.dtype);
    items.push_back(std::move(item));
  }

  // Greedy packing in name order: a shard is closed before it would exceed the limit (a single larger tensor
  // gets a shard of its own).
  std::vector<std::vector<const Item*>> plan;
  uint64_t current_bytes = 0;
  for (const Item& item : items) {
    if (plan.empty() || (!plan.back().empty() && current_bytes + item.bytes > options.max_shard_bytes)) {
      plan.emplace_back();
      current_bytes = 0;
    }
    plan.back().push_back(&item);
    current_bytes += item.bytes;
  }

  prepare_output_dir(out_dir, who);
  std::map<std::string, std::string> weight_map;
  std::set<std::string> shard_files;
  uint64_t total_bytes = 0;
  for (size_t s = 0; s < plan.size(); ++s) {
    const std::string file = shard_name("model-", static_cast<int64_t>(s + 1), static_cast<int64_t>(plan.size()));
    std::vector<std::vector<std::byte>> buffers;
    buffers.reserve(plan[s].size());
    std::vector<io::TensorToWrite> tensors;
    for (const Item* item : plan[s]) {
      if (item->quantized) {
        buffers.push_back(io::convert_from_f32(item->dtype, load_dequantized(reader, item->name).data));
      } else if (is_float_dtype(reader.entry(item->name).dtype)) {
        buffers.push_back(io::convert_from_f32(item->dtype, reader.load(item->name).data));
      } else {
        const auto raw = reader.raw_bytes(item->name);
        buffers.emplace_back(raw.begin(), raw.end());
      }
      tensors.push_back({item->name, item->dtype, item->shape, std::span<const std::byte>(buffers.back())});
      weight_map.emplace(item->name, file);
      total_bytes += item->bytes;
    }
    order_for_alignment(tensors);
    // transformers refuses safetensors files whose metadata does not say which framework wrote them.
    io::write_safetensors(out_dir / file, tensors, {{"format", "pt"}});
    shard_files.insert(file);
  }
  remove_stale_shards(out_dir, kExportShardPattern, shard_files);

  json config = read_json_object(source_config);
  config.erase("quantization_config");
  config["torch_dtype"] = torch_dtype_name(options.dtype);
  if (config.contains("dtype")) config["dtype"] = torch_dtype_name(options.dtype);  // transformers v5 spelling
  io::write_file_atomic(out_dir / kConfigFile, config.dump(2) + "\n");
  copy_auxiliary_files(reader.directory(), out_dir);

  json metadata = json::object();
  metadata["total_size"] = total_bytes;
  write_index(out_dir, weight_map, std::move(metadata));  // last
}

}  // namespace moqa::quant
