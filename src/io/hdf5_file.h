#pragma once
// HDF5 files for results (results.h5) over the HDF5 C API, serial: rank 0 writes. The writer creates
// "<final>.tmp.<pid>" and only commit() renames it to the final name, so a crash never leaves a
// complete-looking results.h5. Object paths are absolute ("/analysis/wiki/layer_0/counts"); missing
// parent groups are created on the way. Every HDF5 failure becomes moqa::Error naming the file, the
// object path and HDF5's own reason; HDF5's stderr printing is switched off while moqa calls it.
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"
#include "io/atomic_file.h"

namespace moqa::io {

// The element types moqa stores: stored little-endian as IEEE float / two's-complement integers.
template <class T>
concept H5Number = std::same_as<T, double> || std::same_as<T, float> || std::same_as<T, int64_t> ||
                   std::same_as<T, int32_t> || std::same_as<T, uint8_t>;

template <H5Number T>
struct H5Array {
  Shape shape;  // [] for a scalar dataset
  std::vector<T> values;
};

// Owns one HDF5 identifier (hid_t is int64_t since HDF5 1.10); closed with the function that matches
// its kind (H5Fclose, H5Gclose, H5Dclose, ...).
class H5Id {
 public:
  using CloseFn = int (*)(int64_t);
  H5Id() = default;
  H5Id(int64_t id, CloseFn close) : id_(id), close_(close) {}
  ~H5Id() { reset(); }
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;
  H5Id(H5Id&& other) noexcept : id_(other.id_), close_(other.close_) { other.id_ = -1; }
  H5Id& operator=(H5Id&& other) noexcept;

  int64_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Closes now; returns false when HDF5 reports a failure (the id is released either way).
  bool reset() noexcept;

 private:
  int64_t id_ = -1;
  CloseFn close_ = nullptr;
};

class H5Writer {
 public:
  // Creates (truncates) the temporary file next to `final_path`.
  static H5Writer create(const std::filesystem::path& final_path);
  ~H5Writer();  // without commit(): closes and removes the temporary file
  H5Writer(H5Writer&&) noexcept = default;
  H5Writer& operator=(H5Writer&&) = delete;  // would discard the old temp file before closing it

  const std::filesystem::path& final_path() const { return output_.final_path(); }
  const std::filesystem::path& temp_path() const { return output_.temp_path(); }

  // Creates the group and its missing parents; an existing group is fine.
  void create_group(std::string_view path);

  // A dataset of element_count(shape) values (shape [] = scalar). Existing datasets are an error.
  template <H5Number T>
  void write(std::string_view path, std::span<const T> values, const Shape& shape);
  template <H5Number T>
  void write(std::string_view path, const std::vector<T>& values, const Shape& shape) {
    write(path, std::span<const T>(values), shape);
  }
  template <H5Number T>
  void write_scalar(std::string_view path, T value) {
    write(path, std::span<const T>(&value, 1), Shape{});
  }
  void write(std::string_view path, const Tensor& tensor) { write(path, std::span<const float>(tensor.data), tensor.shape); }
  // UTF-8 variable-length strings (h5py reads them as str): a 1-D dataset, or a scalar one.
  void write_strings(std::string_view path, const std::vector<std::string>& values);
  void write_string(std::string_view path, std::string_view value);

  // Attributes on a group or dataset (object "/" is the file itself); an existing one is replaced.
  void set_attribute(std::string_view object, std::string_view name, std::string_view value);
  void set_attribute(std::string_view object, std::string_view name, const char* value) {
    set_attribute(object, name, std::string_view(value));
  }
  void set_attribute(std::string_view object, std::string_view name, const std::string& value) {
    set_attribute(object, name, std::string_view(value));
  }
  template <std::floating_point T>
  void set_attribute(std::string_view object, std::string_view name, T value) {
    const double v = static_cast<double>(value);
    set_attribute_values(object, name, std::span<const double>(&v, 1), true);
  }
  template <std::integral T>
    requires(!std::same_as<T, bool>)
  void set_attribute(std::string_view object, std::string_view name, T value) {
    const int64_t v = static_cast<int64_t>(value);
    set_attribute_values(object, name, std::span<const int64_t>(&v, 1), true);
  }
  // A small 1-D array attribute (HDF5 keeps attributes in the object header: think kilobytes).
  template <H5Number T>
  void set_attribute(std::string_view object, std::string_view name, std::span<const T> values) {
    set_attribute_values(object, name, values, false);
  }
  template <H5Number T>
  void set_attribute(std::string_view object, std::string_view name, const std::vector<T>& values) {
    set_attribute_values(object, name, std::span<const T>(values), false);
  }

  // Flushes, closes and renames the temporary file to the final path. The writer is unusable after.
  void commit();

 private:
  H5Writer(const std::filesystem::path& final_path);
  template <H5Number T>
  void set_attribute_values(std::string_view object, std::string_view name, std::span<const T> values, bool scalar);
  int64_t file() const;  // throws after commit()

  AtomicOutput output_;  // declared first: destroyed after file_ has been closed
  H5Id file_;
};

class H5Reader {
 public:
  static H5Reader open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  bool exists(std::string_view object) const;  // false also when a parent group is missing
  bool is_group(std::string_view object) const;
  std::vector<std::string> members(std::string_view group) const;  // link names, sorted by name
  Shape shape(std::string_view dataset) const;

  // Integer datasets can be read as floating types; floating datasets cannot be read as integers.
  template <H5Number T>
  H5Array<T> read(std::string_view dataset) const;
  Tensor read_tensor(std::string_view dataset) const;  // as float32
  std::vector<std::string> read_strings(std::string_view dataset) const;  // a scalar gives one string
  std::string read_string(std::string_view dataset) const;

  std::vector<std::string> attribute_names(std::string_view object) const;  // sorted
  bool has_attribute(std::string_view object, std::string_view name) const;
  std::string attribute_string(std::string_view object, std::string_view name) const;
  template <H5Number T>
  std::vector<T> attribute(std::string_view object, std::string_view name) const;  // a scalar gives 1 value
  double attribute_double(std::string_view object, std::string_view name) const;
  int64_t attribute_int64(std::string_view object, std::string_view name) const;

 private:
  std::filesystem::path path_;
  H5Id file_;
};

}  // namespace moqa::io
