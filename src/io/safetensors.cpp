#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "core/error.h"
#include "io/atomic_file.h"

namespace moqa::io {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian; moqa reads it in place");

namespace {

using json = nlohmann::json;

// The whole header is parsed into memory at once; real headers are a few MB at most (HF refuses > 100 MB).
constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;

struct DTypeInfo {
  DType dtype;
  std::string_view name;
  size_t bytes;
};
constexpr std::array<DTypeInfo, 15> kDTypes = {{
    {DType::F64, "F64", 8},      {DType::F32, "F32", 4},        {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2},    {DType::I64, "I64", 8},        {DType::I32, "I32", 4},
    {DType::I16, "I16", 2},      {DType::I8, "I8", 1},          {DType::U8, "U8", 1},
    {DType::U32, "U32", 4},      {DType::BOOL, "BOOL", 1},      {DType::U16, "U16", 2},
    {DType::U64, "U64", 8},      {DType::F8_E4M3, "F8_E4M3", 1}, {DType::F8_E5M2, "F8_E5M2", 1},
}};

const DTypeInfo& info(DType dtype) {
  for (const auto& entry : kDTypes)
    if (entry.dtype == dtype) return entry;
  fail("invalid DType value ", static_cast<int>(dtype));
}

bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_mul_overflow(a, b, out); }

// Element count of a shape whose dims are known to be non-negative; nullopt when it does not fit int64.
std::optional<uint64_t> checked_element_count(const Shape& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (!checked_mul(n, static_cast<uint64_t>(d), &n)) return std::nullopt;
  }
  if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
  return n;
}

std::string json_type(const json& value) {
  switch (value.type()) {
    case json::value_t::number_unsigned:
    case json::value_t::number_integer: return "integer " + value.dump();
    case json::value_t::number_float: return "number " + value.dump();
    case json::value_t::string: return "string " + value.dump();
    case json::value_t::boolean: return "boolean " + value.dump();
    case json::value_t::null: return "null";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    default: return value.type_name();
  }
}

// Says where a header entry is, for messages: the byte of its key when it can be found in the raw text,
// else the header's byte range.
class HeaderLocator {
 public:
  HeaderLocator(const std::filesystem::path& path, std::string_view text) : path_(path), text_(text) {}

  std::string range() const { return cat("header bytes [8, ", 8 + text_.size(), ")"); }

  std::string tensor(std::string_view name) const {
    const std::string key = json(std::string(name)).dump();
    size_t from = 0;
    while (true) {
      const size_t pos = text_.find(key, from);
      if (pos == std::string_view::npos) break;
      size_t after = pos + key.size();
      while (after < text_.size() && (text_[after] == ' ' || text_[after] == '\t' || text_[after] == '\n' ||
                                      text_[after] == '\r'))
        ++after;
      if (after < text_.size() && text_[after] == ':')
        return cat("tensor '", name, "' (header entry at byte ", 8 + pos, ")");
      from = pos + 1;
    }
    return cat("tensor '", name, "' (in ", range(), ")");
  }

  [[noreturn]] void fail_at(std::string_view name, const std::string& what) const {
    fail(path_.string(), ": ", tensor(name), ": ", what);
  }

 private:
  const std::filesystem::path& path_;
  std::string_view text_;
};

// Reads a JSON integer that must be >= 0 and fit int64 (dims, offsets); describes the problem otherwise.
std::optional<uint64_t> non_negative_integer(const json& value, std::string* problem) {
  if (value.is_number_unsigned()) {
    const uint64_t v = value.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      *problem = cat("integer ", v, " is too large");
      return std::nullopt;
    }
    return v;
  }
  if (value.is_number_integer()) {
    *problem = cat("negative integer ", value.dump());
    return std::nullopt;
  }
  *problem = json_type(value);
  return std::nullopt;
}

TensorEntry parse_entry(const std::string& name, const json& value, const HeaderLocator& where) {
  if (!value.is_object()) where.fail_at(name, cat("found ", json_type(value), ", expected an object {dtype, shape, data_offsets}"));
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!value.contains(key)) where.fail_at(name, cat("missing key '", key, "' (expected dtype, shape and data_offsets)"));
  }
  TensorEntry entry;
  entry.name = name;

  const json& dtype = value.at("dtype");
  if (!dtype.is_string()) where.fail_at(name, cat("'dtype' is ", json_type(dtype), ", expected a string such as \"F32\""));
  if (!parse_dtype(dtype.get_ref<const std::string&>(), &entry.dtype))
    where.fail_at(name, cat("unknown dtype ", dtype.dump(), " (known: ", known_dtype_names(), ")"));

  const json& shape = value.at("shape");
  if (!shape.is_array()) where.fail_at(name, cat("'shape' is ", json_type(shape), ", expected an array of non-negative integers"));
  for (size_t i = 0; i < shape.size(); ++i) {
    std::string problem;
    const auto dim = non_negative_integer(shape[i], &problem);
    if (!dim) where.fail_at(name, cat("shape[", i, "] is ", problem, ", expected a non-negative integer"));
    entry.shape.push_back(static_cast<int64_t>(*dim));
  }

  const json& offsets = value.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2)
    where.fail_at(name, cat("'data_offsets' is ", offsets.is_array() ? cat("an array of ", offsets.size(), " values") : json_type(offsets),
                            ", expected [begin, end]"));
  std::string problem;
  const auto begin = non_negative_integer(offsets[0], &problem);
  if (!begin) where.fail_at(name, cat("data_offsets[0] is ", problem, ", expected a non-negative integer"));
  const auto end = non_negative_integer(offsets[1], &problem);
  if (!end) where.fail_at(name, cat("data_offsets[1] is ", problem, ", expected a non-negative integer"));
  entry.begin = *begin;
  entry.end = *end;
  return entry;
}

// Checks one entry's offsets against its shape and the data section [data_start, file_size).
void check_extent(const TensorEntry& entry, uint64_t data_start, uint64_t data_bytes, const HeaderLocator& where) {
  const auto count = checked_element_count(entry.shape);
  if (!count) where.fail_at(entry.name, cat("shape ", to_string(entry.shape), " has more elements than fit in 64 bits"));
  uint64_t expected_bytes = 0;
  if (!checked_mul(*count, dtype_bytes(entry.dtype), &expected_bytes))
    where.fail_at(entry.name, cat("shape ", to_string(entry.shape), " of ", dtype_name(entry.dtype), " overflows 64-bit byte counts"));
  const std::string span = cat("data_offsets [", entry.begin, ", ", entry.end, "]");
  if (entry.begin > entry.end) where.fail_at(entry.name, cat(span, ": begin is after end"));
  if (entry.end > data_bytes)
    where.fail_at(entry.name, cat(span, " end at file byte ", data_start + entry.end, " is past the end of the file (",
                                  data_start + data_bytes, " bytes; data section starts at byte ", data_start, ")"));
  if (entry.end - entry.begin != expected_bytes)
    where.fail_at(entry.name, cat(span, " (file bytes [", data_start + entry.begin, ", ", data_start + entry.end, ")) hold ",
                                  entry.end - entry.begin, " bytes, expected ", expected_bytes, " = ", *count, " elements of ",
                                  dtype_name(entry.dtype), " (", dtype_bytes(entry.dtype), " bytes each) for shape ",
                                  to_string(entry.shape)));
}

uint16_t load_u16(const std::byte* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <class T>
void convert_by_value(const std::byte* src, size_t count, float* dst) {
  for (size_t i = 0; i < count; ++i) {
    T v;
    std::memcpy(&v, src + i * sizeof(T), sizeof(T));
    dst[i] = static_cast<float>(v);
  }
}

float f8_e4m3_to_f32(uint8_t bits) {
  const bool negative = bits & 0x80;
  const int exponent = (bits >> 3) & 0xF;
  const int mantissa = bits & 0x7;
  float magnitude;
  if (exponent == 0xF && mantissa == 0x7) {
    magnitude = std::numeric_limits<float>::quiet_NaN();  // E4M3FN has no infinity
  } else if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -9);
  } else {
    magnitude = std::ldexp(static_cast<float>(8 + mantissa), exponent - 10);
  }
  return negative ? -magnitude : magnitude;
}

}  // namespace

std::string_view dtype_name(DType dtype) { return info(dtype).name; }

size_t dtype_bytes(DType dtype) { return info(dtype).bytes; }

bool parse_dtype(std::string_view name, DType* dtype) {
  for (const auto& entry : kDTypes) {
    if (entry.name == name) {
      *dtype = entry.dtype;
      return true;
    }
  }
  return false;
}

std::string known_dtype_names() {
  std::string out;
  for (const auto& entry : kDTypes) {
    if (!out.empty()) out += ", ";
    out += entry.name;
  }
  return out;
}

int64_t TensorEntry::element_count() const { return moqa::element_count(shape); }

// ---------------------------------------------------------------------------------------------- MappedFile

MappedFile::MappedFile(const std::filesystem::path& path) : path_(path) {
  // Closed on every path out of the constructor; the mapping keeps the file alive without it.
  struct Descriptor {
    int fd;
    ~Descriptor() {
      if (fd >= 0) ::close(fd);
    }
  };
  const Descriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) {
    const int err = errno;
    fail("cannot open '", path.string(), "': ", std::strerror(err));
  }
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) {
    const int err = errno;
    fail("cannot stat '", path.string(), "': ", std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) fail("cannot map '", path.string(), "': not a regular file");
  size_ = static_cast<size_t>(st.st_size);
  if (size_ == 0) return;  // mmap rejects empty lengths; an empty span needs no mapping
  void* mapped = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, file.fd, 0);
  if (mapped == MAP_FAILED) {
    const int err = errno;
    fail("cannot map '", path.string(), "' (", size_, " bytes): ", std::strerror(err));
  }
  data_ = static_cast<const std::byte*>(mapped);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
}

// ----------------------------------------------------------------------------------------- SafetensorsFile

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  SafetensorsFile file;
  file.file_ = std::make_shared<const MappedFile>(path);
  const auto bytes = file.file_->bytes();
  const std::string name = path.string();
  const uint64_t file_bytes = bytes.size();

  if (file_bytes < 8)
    fail(name, ": file is ", file_bytes, " bytes, too short for a safetensors file (expected at least the 8-byte header length)");
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, bytes.data(), 8);
  if (header_bytes > kMaxHeaderBytes || header_bytes > file_bytes - 8)
    fail(name, ": header length at bytes [0, 8) is ", header_bytes, ", expected at most ",
         std::min<uint64_t>(kMaxHeaderBytes, file_bytes - 8), " (file is ", file_bytes, " bytes",
         header_bytes > kMaxHeaderBytes ? ", header limit 100 MB" : "", "): not a safetensors file or truncated");
  if (header_bytes < 2) fail(name, ": header length at bytes [0, 8) is ", header_bytes, ", expected a JSON object of at least 2 bytes");

  const std::string_view text(reinterpret_cast<const char*>(bytes.data()) + 8, header_bytes);
  const HeaderLocator where(path, text);
  file.data_start_ = 8 + header_bytes;
  const uint64_t data_bytes = file_bytes - file.data_start_;

  // nlohmann keeps the last of duplicate keys silently; the callback sees every top-level key.
  std::vector<std::string> duplicates;
  std::set<std::string> seen;
  const auto on_event = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth == 1 && event == json::parse_event_t::key && parsed.is_string()) {
      if (!seen.insert(parsed.get<std::string>()).second) duplicates.push_back(parsed.get<std::string>());
    }
    return true;
  };
  json header;
  try {
    header = json::parse(text.begin(), text.end(), on_event);
  } catch (const json::parse_error& e) {
    const uint64_t at = e.byte > 0 ? 8 + e.byte - 1 : 8;
    fail(name, ": header (bytes [8, ", file.data_start_, ")) is not valid JSON: error at file byte ", at, ": ", e.what());
  }
  if (!header.is_object()) fail(name, ": header (", where.range(), ") is ", json_type(header), ", expected a JSON object");
  if (!duplicates.empty()) where.fail_at(duplicates.front(), "name appears more than once in the header, expected unique tensor names");

  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (value.is_null()) continue;
      if (!value.is_object())
        fail(name, ": \"__metadata__\" (", where.range(), ") is ", json_type(value), ", expected an object of strings");
      for (const auto& [meta_key, meta_value] : value.items()) {
        if (!meta_value.is_string())
          fail(name, ": \"__metadata__\" value for '", meta_key, "' (", where.range(), ") is ", json_type(meta_value),
               ", expected a string");
        file.metadata_[meta_key] = meta_value.get<std::string>();
      }
      continue;
    }
    TensorEntry entry = parse_entry(key, value, where);
    check_extent(entry, file.data_start_, data_bytes, where);
    file.tensors_.push_back(std::move(entry));
  }

  std::sort(file.tensors_.begin(), file.tensors_.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  // Empty tensors occupy no bytes and cannot overlap anything.
  const TensorEntry* furthest = nullptr;
  for (const auto& entry : file.tensors_) {
    if (entry.begin == entry.end) continue;
    if (furthest && entry.begin < furthest->end)
      where.fail_at(entry.name, cat("data_offsets [", entry.begin, ", ", entry.end, "] (file bytes [", file.data_start_ + entry.begin,
                                    ", ", file.data_start_ + entry.end, ")) overlap tensor '", furthest->name, "' [", furthest->begin,
                                    ", ", furthest->end, "], expected disjoint tensors"));
    if (!furthest || entry.end > furthest->end) furthest = &entry;
  }
  for (size_t i = 0; i < file.tensors_.size(); ++i) file.by_name_.emplace(file.tensors_[i].name, i);
  return file;
}

const std::filesystem::path& SafetensorsFile::path() const { return file_->path(); }

const TensorEntry* SafetensorsFile::find(std::string_view name) const {
  const auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

std::span<const std::byte> SafetensorsFile::bytes(const TensorEntry& entry) const {
  return file_->bytes().subspan(data_start_ + entry.begin, entry.end - entry.begin);
}

Tensor SafetensorsFile::read(std::string_view name) const {
  const TensorEntry* entry = find(name);
  MOQA_CHECK(entry, path().string(), ": no tensor '", name, "' (the file holds ", tensors_.size(), " tensors)");
  return read(*entry);
}

Tensor SafetensorsFile::read(const TensorEntry& entry) const {
  Tensor out(entry.shape);
  convert_to_f32(entry.dtype, bytes(entry).data(), out.data.size(), out.data.data());
  return out;
}

// ------------------------------------------------------------------------------------------- conversions

float f16_to_f32(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1Fu;
  const uint32_t mantissa = bits & 0x3FFu;
  uint32_t out;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24 is exact in float.
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    out = std::bit_cast<uint32_t>(magnitude) | sign;
  } else if (exponent == 0x1F) {
    out = sign | 0x7F800000u | (mantissa << 13);  // inf, or NaN keeping its payload
  } else {
    out = sign | ((exponent + 112u) << 23) | (mantissa << 13);
  }
  return std::bit_cast<float>(out);
}

float bf16_to_f32(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }

uint16_t f32_to_f16(float value) {
  const uint32_t x = std::bit_cast<uint32_t>(value);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t magnitude = x & 0x7FFFFFFFu;
  if (magnitude > 0x7F800000u) return sign | 0x7E00u | static_cast<uint16_t>((magnitude >> 13) & 0x1FFu);  // NaN
  if (magnitude >= 0x477FF000u) return sign | 0x7C00u;  // >= 65520 rounds to infinity
  if (magnitude < 0x38800000u) {
    // Result is a half subnormal (or zero): count units of 2^-24 with round-to-nearest-even.
    const uint32_t exponent = magnitude >> 23;
    if (exponent == 0) return sign;  // float subnormals are far below half precision
    const uint32_t significand = (magnitude & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 126 - exponent;  // >= 14
    if (shift >= 25) return sign;
    uint32_t units = significand >> shift;
    const uint32_t remainder = significand & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (remainder > half || (remainder == half && (units & 1u))) ++units;
    return sign | static_cast<uint16_t>(units);  // 0x400 (smallest normal) is encoded correctly too
  }
  uint32_t h = (magnitude >> 13) - (112u << 10);
  const uint32_t remainder = magnitude & 0x1FFFu;
  if (remainder > 0x1000u || (remainder == 0x1000u && (h & 1u))) ++h;  // carries into the exponent correctly
  return sign | static_cast<uint16_t>(h);
}

uint16_t f32_to_bf16(float value) {
  const uint32_t x = std::bit_cast<uint32_t>(value);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((x >> 16) | 0x0040u);  // quiet NaN
  const uint32_t rounded = x + 0x7FFFu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(rounded >> 16);
}

void convert_to_f32(DType dtype, const std::byte* src, size_t count, float* dst) {
  if (count == 0) return;  // empty tensors may come with null pointers
  switch (dtype) {
    case DType::F32: std::memcpy(dst, src, count * sizeof(float)); return;
    case DType::F16:
      for (size_t i = 0; i < count; ++i) dst[i] = f16_to_f32(load_u16(src + 2 * i));
      return;
    case DType::BF16:
      for (size_t i = 0; i < count; ++i) dst[i] = bf16_to_f32(load_u16(src + 2 * i));
      return;
    case DType::F64: convert_by_value<double>(src, count, dst); return;
    case DType::I64: convert_by_value<int64_t>(src, count, dst); return;
    case DType::I32: convert_by_value<int32_t>(src, count, dst); return;
    case DType::I16: convert_by_value<int16_t>(src, count, dst); return;
    case DType::I8: convert_by_value<int8_t>(src, count, dst); return;
    case DType::U8: convert_by_value<uint8_t>(src, count, dst); return;
    case DType::U16: convert_by_value<uint16_t>(src, count, dst); return;
    case DType::U32: convert_by_value<uint32_t>(src, count, dst); return;
    case DType::U64: convert_by_value<uint64_t>(src, count, dst); return;
    case DType::BOOL:
      for (size_t i = 0; i < count; ++i) dst[i] = src[i] != std::byte{0} ? 1.0f : 0.0f;
      return;
    case DType::F8_E4M3:
      for (size_t i = 0; i < count; ++i) dst[i] = f8_e4m3_to_f32(std::to_integer<uint8_t>(src[i]));
      return;
    case DType::F8_E5M2:
      // E5M2 is the top byte of an IEEE half.
      for (size_t i = 0; i < count; ++i) dst[i] = f16_to_f32(static_cast<uint16_t>(std::to_integer<uint16_t>(src[i]) << 8));
      return;
  }
  fail("convert_to_f32: invalid DType value ", static_cast<int>(dtype));
}

std::vector<std::byte> convert_from_f32(DType dtype, std::span<const float> values) {
  std::vector<std::byte> out(values.size() * dtype_bytes(dtype));
  switch (dtype) {
    case DType::F32:
      if (!out.empty()) std::memcpy(out.data(), values.data(), out.size());
      return out;
    case DType::F16:
    case DType::BF16:
      for (size_t i = 0; i < values.size(); ++i) {
        const uint16_t bits = dtype == DType::F16 ? f32_to_f16(values[i]) : f32_to_bf16(values[i]);
        std::memcpy(out.data() + 2 * i, &bits, 2);
      }
      return out;
    default: fail("convert_from_f32: moqa writes F32, F16 or BF16, not ", dtype_name(dtype));
  }
}

// ----------------------------------------------------------------------------------------------- writing

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& tensor : tensors) {
    MOQA_CHECK(!tensor.name.empty() && tensor.name != "__metadata__", "write_safetensors ", path.string(),
               ": invalid tensor name '", tensor.name, "'");
    MOQA_CHECK(!header.contains(tensor.name), "write_safetensors ", path.string(), ": tensor '", tensor.name,
               "' given twice");
    for (int64_t d : tensor.shape)
      MOQA_CHECK(d >= 0, "write_safetensors ", path.string(), ": tensor '", tensor.name, "' has shape ", to_string(tensor.shape));
    const auto count = checked_element_count(tensor.shape);
    uint64_t expected = 0;
    MOQA_CHECK(count && checked_mul(*count, dtype_bytes(tensor.dtype), &expected), "write_safetensors ", path.string(),
               ": tensor '", tensor.name, "' shape ", to_string(tensor.shape), " is too large");
    MOQA_CHECK(tensor.bytes.size() == expected, "write_safetensors ", path.string(), ": tensor '", tensor.name, "' ",
               dtype_name(tensor.dtype), to_string(tensor.shape), " needs ", expected, " bytes, got ", tensor.bytes.size());
    header[tensor.name] = {{"dtype", dtype_name(tensor.dtype)},
                           {"shape", tensor.shape},
                           {"data_offsets", {offset, offset + expected}}};
    offset += expected;
  }
  std::string text = header.dump();
  // Pad with spaces (valid JSON whitespace) so the data section starts 8-byte aligned, as HF does.
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');
  const uint64_t header_bytes = text.size();

  AtomicOutput output(path);
  struct CloseFile {
    void operator()(std::FILE* file) const { std::fclose(file); }
  };
  std::unique_ptr<std::FILE, CloseFile> out(std::fopen(output.temp_path().c_str(), "wb"));
  if (!out) {
    const int err = errno;
    fail("cannot create '", output.temp_path().string(), "': ", std::strerror(err));
  }
  const auto write = [&](const void* data, size_t size) {
    if (size > 0 && std::fwrite(data, 1, size, out.get()) != size) {
      const int err = errno;
      fail("cannot write '", output.temp_path().string(), "': ", std::strerror(err));
    }
  };
  write(&header_bytes, 8);
  write(text.data(), text.size());
  for (const auto& tensor : tensors) write(tensor.bytes.data(), tensor.bytes.size());
  // fclose flushes the buffer: its failure (a full disk) is a failed write too.
  if (std::fclose(out.release()) != 0) {
    const int err = errno;
    fail("cannot write '", output.temp_path().string(), "': ", std::strerror(err));
  }
  output.commit();
}

}  // namespace moqa::io
