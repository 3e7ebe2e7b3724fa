#include "io/hdf5_file.h"

#include <hdf5.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "core/error.h"

namespace moqa::io {

static_assert(std::is_same_v<hid_t, int64_t> && std::is_same_v<herr_t, int>, "H5Id assumes HDF5 >= 1.10 id types");

namespace {

// HDF5 prints its error stack to stderr by default; moqa reports errors itself. The handler is HDF5's
// per-thread setting, so it is switched off only for the duration of a moqa call and then restored.
class QuietHdf5 {
 public:
  QuietHdf5() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietHdf5() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
  QuietHdf5(const QuietHdf5&) = delete;
  QuietHdf5& operator=(const QuietHdf5&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// HDF5's reasons, outermost first (e.g. "unable to create file; unable to open file: name = ...").
std::string hdf5_reason() {
  std::vector<std::string> messages;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* error, void* out) -> herr_t {
        if (error->desc && *error->desc) static_cast<std::vector<std::string>*>(out)->push_back(error->desc);
        return 0;
      },
      &messages);
  H5Eclear2(H5E_DEFAULT);
  std::string out;
  for (const auto& m : messages) {
    if (out.find(m) != std::string::npos) continue;
    out += (out.empty() ? "" : "; ") + m;
  }
  return out.empty() ? "no reason given by HDF5" : out;
}

[[noreturn]] void h5_fail(const std::filesystem::path& file, std::string_view object, std::string_view what) {
  fail("HDF5 file '", file.string(), "', object '", object, "': ", what, " (", hdf5_reason(), ")");
}

// Checks an HDF5 return value (negative = failure).
template <class R>
R check(R result, const std::filesystem::path& file, std::string_view object, std::string_view what) {
  if (result < 0) h5_fail(file, object, what);
  return result;
}

H5Id owned(hid_t id, H5Id::CloseFn close, const std::filesystem::path& file, std::string_view object, std::string_view what) {
  if (id < 0) h5_fail(file, object, what);
  return H5Id(id, close);
}

std::string absolute(std::string_view path) {
  std::string out;
  if (path.empty() || path.front() != '/') out.push_back('/');
  out.append(path);
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

// How moqa stores each element type: fixed little-endian file types (files are the same whatever machine
// wrote them), the native type in memory, and the name messages use.
struct NumberType {
  hid_t memory;
  hid_t file;
  const char* name;
};

template <H5Number T>
NumberType number_type() {
  if constexpr (std::is_same_v<T, double>) return {H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, "float64"};
  if constexpr (std::is_same_v<T, float>) return {H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, "float32"};
  if constexpr (std::is_same_v<T, int64_t>) return {H5T_NATIVE_INT64, H5T_STD_I64LE, "int64"};
  if constexpr (std::is_same_v<T, int32_t>) return {H5T_NATIVE_INT32, H5T_STD_I32LE, "int32"};
  if constexpr (std::is_same_v<T, uint8_t>) return {H5T_NATIVE_UINT8, H5T_STD_U8LE, "uint8"};
}

H5Id simple_space(const Shape& shape, const std::filesystem::path& file, std::string_view object) {
  if (shape.empty()) return owned(H5Screate(H5S_SCALAR), H5Sclose, file, object, "cannot create a scalar dataspace");
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  return owned(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose, file, object,
               cat("cannot create a dataspace of shape ", to_string(shape)));
}

H5Id utf8_string_type(const std::filesystem::path& file, std::string_view object) {
  H5Id type = owned(H5Tcopy(H5T_C_S1), H5Tclose, file, object, "cannot create a string type");
  check(H5Tset_size(type.get(), H5T_VARIABLE), file, object, "cannot make a variable-length string type");
  check(H5Tset_cset(type.get(), H5T_CSET_UTF8), file, object, "cannot set UTF-8 on a string type");
  return type;
}

// Link creation that makes missing parent groups.
H5Id parents_lcpl(const std::filesystem::path& file, std::string_view object) {
  H5Id lcpl = owned(H5Pcreate(H5P_LINK_CREATE), H5Pclose, file, object, "cannot create a link property list");
  check(H5Pset_create_intermediate_group(lcpl.get(), 1), file, object, "cannot request intermediate groups");
  return lcpl;
}

Shape shape_of(hid_t space, const std::filesystem::path& file, std::string_view object) {
  const int rank = check(H5Sget_simple_extent_ndims(space), file, object, "cannot read the dataspace rank");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (rank > 0) check(H5Sget_simple_extent_dims(space, dims.data(), nullptr), file, object, "cannot read the dataspace dims");
  return Shape(dims.begin(), dims.end());
}

bool link_exists(hid_t file, std::string_view object) {
  const std::string path = absolute(object);
  if (path == "/") return true;
  // H5Lexists fails (rather than returning false) when a parent is missing: test each prefix.
  for (size_t pos = path.find('/', 1);; pos = path.find('/', pos + 1)) {
    const std::string prefix = path.substr(0, pos);
    if (H5Lexists(file, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    if (pos == std::string::npos) return true;
  }
}

H5O_type_t object_type(hid_t file, const std::string& name, const std::filesystem::path& path) {
  H5O_info_t info;
#if H5_VERSION_GE(1, 12, 0)
  check(H5Oget_info_by_name3(file, name.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT), path, name, "cannot inspect");
#else
  check(H5Oget_info_by_name2(file, name.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT), path, name, "cannot inspect");
#endif
  return info.type;
}

// A new dataset `name` (absolute) with its missing parent groups; an existing one is an error.
H5Id create_dataset(hid_t file, const std::string& name, hid_t type, const Shape& shape, const std::filesystem::path& path,
                    std::string_view what) {
  if (link_exists(file, name)) fail("HDF5 file '", path.string(), "': dataset '", name, "' already exists");
  H5Id space = simple_space(shape, path, name);
  H5Id lcpl = parents_lcpl(path, name);
  return owned(H5Dcreate2(file, name.c_str(), type, space.get(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), H5Dclose, path, name,
               cat("cannot create ", what));
}

void write_utf8_dataset(hid_t file, std::string_view object, std::span<const char* const> values, const Shape& shape,
                        const std::filesystem::path& path) {
  const std::string name = absolute(object);
  H5Id type = utf8_string_type(path, name);
  H5Id dataset = create_dataset(file, name, type.get(), shape, path, "string dataset");
  if (!values.empty())
    check(H5Dwrite(dataset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), path, name, "cannot write strings");
}

// Creates (or replaces) attribute `name` of `object` and writes `data` (nullptr: nothing to write).
void write_attribute(hid_t file, std::string_view object, std::string_view name, hid_t stored_type, hid_t memory_type,
                     const void* data, const Shape& shape, std::string_view what, const std::filesystem::path& path) {
  const std::string target = absolute(object);
  const std::string attr(name);
  const std::string where = target + "@" + attr;
  if (!link_exists(file, target))
    fail("HDF5 file '", path.string(), "': cannot set attribute '", attr, "' on missing object '", target, "'");
  if (check(H5Aexists_by_name(file, target.c_str(), attr.c_str(), H5P_DEFAULT), path, where, "cannot look up attribute") > 0)
    check(H5Adelete_by_name(file, target.c_str(), attr.c_str(), H5P_DEFAULT), path, where, "cannot replace attribute");
  H5Id space = simple_space(shape, path, where);
  H5Id attribute = owned(H5Acreate_by_name(file, target.c_str(), attr.c_str(), stored_type, space.get(), H5P_DEFAULT,
                                           H5P_DEFAULT, H5P_DEFAULT),
                         H5Aclose, path, where, cat("cannot create ", what));
  if (data) check(H5Awrite(attribute.get(), memory_type, data), path, where, "cannot write attribute");
}

// An open dataset or attribute with its stored type and element count, for the readers.
struct Opened {
  H5Id object;
  H5Id type;
  size_t count = 0;
  Shape shape;
};

Opened open_dataset(hid_t file, const std::string& name, const std::filesystem::path& path) {
  Opened out;
  out.object = owned(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Dclose, path, name, "cannot open dataset");
  out.type = owned(H5Dget_type(out.object.get()), H5Tclose, path, name, "cannot read datatype");
  H5Id space = owned(H5Dget_space(out.object.get()), H5Sclose, path, name, "cannot read dataspace");
  out.shape = shape_of(space.get(), path, name);
  out.count = static_cast<size_t>(check(H5Sget_simple_extent_npoints(space.get()), path, name, "cannot count"));
  return out;
}

Opened open_attribute(hid_t file, const std::string& object, const std::string& attr, const std::string& where,
                      const std::filesystem::path& path) {
  Opened out;
  out.object = owned(H5Aopen_by_name(file, object.c_str(), attr.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose, path, where,
                     "cannot open attribute");
  out.type = owned(H5Aget_type(out.object.get()), H5Tclose, path, where, "cannot read attribute type");
  H5Id space = owned(H5Aget_space(out.object.get()), H5Sclose, path, where, "cannot read attribute dataspace");
  out.count = static_cast<size_t>(check(H5Sget_simple_extent_npoints(space.get()), path, where, "cannot count"));
  return out;
}

// The one value of a scalar (or one-element) string/number read.
template <class T>
T only_value(std::vector<T> values, const std::filesystem::path& path, std::string_view kind, std::string_view where,
             std::string_view unit) {
  MOQA_CHECK(values.size() == 1, "HDF5 file '", path.string(), "', ", kind, " '", where, "': holds ", values.size(), " ",
             unit, ", expected one");
  return std::move(values.front());
}

// Reads strings from a dataset or an attribute, variable-length or fixed-size.
template <class ReadFn>
std::vector<std::string> read_string_values(hid_t stored_type, size_t count, ReadFn read, const std::filesystem::path& file,
                                            std::string_view object) {
  if (H5Tget_class(stored_type) != H5T_STRING) fail("HDF5 file '", file.string(), "', object '", object, "': not a string");
  std::vector<std::string> out;
  if (H5Tis_variable_str(stored_type) > 0) {
    H5Id type = utf8_string_type(file, object);
    std::vector<char*> pointers(count, nullptr);
    check(read(type.get(), static_cast<void*>(pointers.data())), file, object, "cannot read strings");
    for (char* p : pointers) {
      out.emplace_back(p ? p : "");
      H5free_memory(p);
    }
  } else {
    const size_t size = H5Tget_size(stored_type);
    if (size == 0) h5_fail(file, object, "cannot read the fixed string size");
    H5Id type = owned(H5Tcopy(stored_type), H5Tclose, file, object, "cannot copy a string type");
    std::vector<char> buffer(count * size);
    check(read(type.get(), static_cast<void*>(buffer.data())), file, object, "cannot read fixed-size strings");
    for (size_t i = 0; i < count; ++i) {
      const char* begin = buffer.data() + i * size;
      out.emplace_back(begin, strnlen(begin, size));
    }
  }
  return out;
}

// Numeric reads convert integers to floats freely, never floats to integers (silent truncation).
template <H5Number T>
void check_numeric(hid_t stored_type, const std::filesystem::path& file, std::string_view object) {
  const H5T_class_t cls = H5Tget_class(stored_type);
  const bool ok = cls == H5T_INTEGER || (cls == H5T_FLOAT && std::is_floating_point_v<T>);
  if (!ok)
    fail("HDF5 file '", file.string(), "', object '", object, "': stored as ",
         cls == H5T_FLOAT ? "floating point" : cls == H5T_STRING ? "strings" : "a non-numeric type", ", cannot be read as ",
         number_type<T>().name);
}

}  // namespace

// -------------------------------------------------------------------------------------------------- H5Id

H5Id& H5Id::operator=(H5Id&& other) noexcept {
  if (this != &other) {
    reset();
    id_ = other.id_;
    close_ = other.close_;
    other.id_ = -1;
  }
  return *this;
}

bool H5Id::reset() noexcept {
  if (id_ < 0) return true;
  const bool ok = close_(id_) >= 0;
  id_ = -1;
  return ok;
}

// ---------------------------------------------------------------------------------------------- H5Writer

H5Writer::H5Writer(const std::filesystem::path& final_path) : output_(final_path) {}

H5Writer H5Writer::create(const std::filesystem::path& final_path) {
  QuietHdf5 quiet;
  H5Writer writer(final_path);
  const auto& temp = writer.output_.temp_path();
  H5Id fapl = owned(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, temp, "/", "cannot create a file access property list");
  // Close everything with the file, so commit() really releases it before the rename.
  check(H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG), temp, "/", "cannot set the close degree");
  // 1.8 format: attributes larger than 64 KiB allowed, still readable by every current HDF5 and h5py.
  check(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V18, H5F_LIBVER_LATEST), temp, "/", "cannot set format bounds");
#if H5_VERSION_GE(1, 10, 7)
  // Cluster file systems without locks (some NFS/Lustre mounts) would otherwise fail every create.
  check(H5Pset_file_locking(fapl.get(), 1, 1), temp, "/", "cannot configure file locking");
#endif
  writer.file_ = owned(H5Fcreate(temp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose, temp, "/",
                       "cannot create the file");
  return writer;
}

H5Writer::~H5Writer() {
  QuietHdf5 quiet;
  file_.reset();
  H5Eclear2(H5E_DEFAULT);
}

int64_t H5Writer::file() const {
  MOQA_CHECK(file_.valid(), "HDF5 file '", output_.final_path().string(), "' was already committed or closed");
  return file_.get();
}

void H5Writer::create_group(std::string_view path) {
  QuietHdf5 quiet;
  const std::string name = absolute(path);
  const hid_t f = file();
  if (link_exists(f, name)) {
    if (object_type(f, name, temp_path()) != H5O_TYPE_GROUP)
      fail("HDF5 file '", temp_path().string(), "': '", name, "' exists and is not a group");
    return;
  }
  H5Id lcpl = parents_lcpl(temp_path(), name);
  owned(H5Gcreate2(f, name.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), H5Gclose, temp_path(), name, "cannot create group");
}

template <H5Number T>
void H5Writer::write(std::string_view path, std::span<const T> values, const Shape& shape) {
  QuietHdf5 quiet;
  const std::string name = absolute(path);
  const hid_t f = file();
  MOQA_CHECK(static_cast<int64_t>(values.size()) == element_count(shape), "HDF5 file '", temp_path().string(), "', dataset '",
             name, "': ", values.size(), " values given for shape ", to_string(shape));
  const NumberType type = number_type<T>();
  H5Id dataset = create_dataset(f, name, type.file, shape, temp_path(), cat(type.name, " dataset of shape ", to_string(shape)));
  if (!values.empty())
    check(H5Dwrite(dataset.get(), type.memory, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), temp_path(), name,
          "cannot write dataset");
}

void H5Writer::write_strings(std::string_view path, const std::vector<std::string>& values) {
  QuietHdf5 quiet;
  std::vector<const char*> pointers;
  pointers.reserve(values.size());
  for (const auto& v : values) pointers.push_back(v.c_str());
  write_utf8_dataset(file(), path, pointers, Shape{static_cast<int64_t>(values.size())}, temp_path());
}

void H5Writer::write_string(std::string_view path, std::string_view value) {
  QuietHdf5 quiet;
  const std::string text(value);
  const char* pointer = text.c_str();
  write_utf8_dataset(file(), path, std::span<const char* const>(&pointer, 1), Shape{}, temp_path());
}

void H5Writer::set_attribute(std::string_view object, std::string_view name, std::string_view value) {
  QuietHdf5 quiet;
  const hid_t f = file();
  H5Id type = utf8_string_type(temp_path(), cat(absolute(object), "@", name));
  const std::string text(value);
  const char* pointer = text.c_str();
  write_attribute(f, object, name, type.get(), type.get(), &pointer, Shape{}, "string attribute", temp_path());
}

template <H5Number T>
void H5Writer::set_attribute_values(std::string_view object, std::string_view name, std::span<const T> values, bool scalar) {
  QuietHdf5 quiet;
  const hid_t f = file();
  const NumberType type = number_type<T>();
  write_attribute(f, object, name, type.file, type.memory, values.empty() ? nullptr : values.data(),
                  scalar ? Shape{} : Shape{static_cast<int64_t>(values.size())}, cat(type.name, " attribute"), temp_path());
}

void H5Writer::commit() {
  QuietHdf5 quiet;
  check(H5Fflush(file(), H5F_SCOPE_GLOBAL), temp_path(), "/", "cannot flush");
  if (!file_.reset()) h5_fail(temp_path(), "/", "cannot close");
  output_.commit();
}

// ---------------------------------------------------------------------------------------------- H5Reader

H5Reader H5Reader::open(const std::filesystem::path& path) {
  QuietHdf5 quiet;
  H5Reader reader;
  reader.path_ = path;
  MOQA_CHECK(std::filesystem::is_regular_file(path), "HDF5 file '", path.string(), "' does not exist");
  H5Id fapl = owned(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, path, "/", "cannot create a file access property list");
#if H5_VERSION_GE(1, 10, 7)
  check(H5Pset_file_locking(fapl.get(), 1, 1), path, "/", "cannot configure file locking");
#endif
  reader.file_ = owned(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose, path, "/", "cannot open as HDF5");
  return reader;
}

bool H5Reader::exists(std::string_view object) const {
  QuietHdf5 quiet;
  const bool found = link_exists(file_.get(), object);
  H5Eclear2(H5E_DEFAULT);
  return found;
}

bool H5Reader::is_group(std::string_view object) const {
  QuietHdf5 quiet;
  const std::string name = absolute(object);
  return link_exists(file_.get(), name) && object_type(file_.get(), name, path_) == H5O_TYPE_GROUP;
}

std::vector<std::string> H5Reader::members(std::string_view group) const {
  QuietHdf5 quiet;
  const std::string name = absolute(group);
  H5Id g = owned(H5Gopen2(file_.get(), name.c_str(), H5P_DEFAULT), H5Gclose, path_, name, "cannot open group");
  H5G_info_t info;
  check(H5Gget_info(g.get(), &info), path_, name, "cannot list group");
  std::vector<std::string> out;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t size = check(H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT), path_, name,
                               "cannot read a member name");
    std::string member(static_cast<size_t>(size), '\0');
    check(H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, member.data(), member.size() + 1, H5P_DEFAULT), path_, name,
          "cannot read a member name");
    out.push_back(std::move(member));
  }
  return out;
}

Shape H5Reader::shape(std::string_view dataset) const {
  QuietHdf5 quiet;
  return open_dataset(file_.get(), absolute(dataset), path_).shape;
}

template <H5Number T>
H5Array<T> H5Reader::read(std::string_view dataset) const {
  QuietHdf5 quiet;
  const std::string name = absolute(dataset);
  const Opened d = open_dataset(file_.get(), name, path_);
  check_numeric<T>(d.type.get(), path_, name);
  const NumberType type = number_type<T>();
  H5Array<T> out;
  out.shape = d.shape;
  out.values.resize(d.count);
  if (!out.values.empty())
    check(H5Dread(d.object.get(), type.memory, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.values.data()), path_, name,
          cat("cannot read as ", type.name));
  return out;
}

Tensor H5Reader::read_tensor(std::string_view dataset) const {
  H5Array<float> values = read<float>(dataset);
  return Tensor(std::move(values.shape), std::move(values.values));
}

std::vector<std::string> H5Reader::read_strings(std::string_view dataset) const {
  QuietHdf5 quiet;
  const std::string name = absolute(dataset);
  const Opened d = open_dataset(file_.get(), name, path_);
  return read_string_values(
      d.type.get(), d.count,
      [&](hid_t mem, void* buffer) { return H5Dread(d.object.get(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer); }, path_, name);
}

std::string H5Reader::read_string(std::string_view dataset) const {
  return only_value(read_strings(dataset), path_, "dataset", absolute(dataset), "strings");
}

std::vector<std::string> H5Reader::attribute_names(std::string_view object) const {
  QuietHdf5 quiet;
  const std::string name = absolute(object);
  H5Id o = owned(H5Oopen(file_.get(), name.c_str(), H5P_DEFAULT), H5Oclose, path_, name, "cannot open object");
  std::vector<std::string> out;
  check(H5Aiterate2(
            o.get(), H5_INDEX_NAME, H5_ITER_INC, nullptr,
            [](hid_t, const char* attr, const H5A_info_t*, void* data) -> herr_t {
              static_cast<std::vector<std::string>*>(data)->push_back(attr);
              return 0;
            },
            &out),
        path_, name, "cannot list attributes");
  std::sort(out.begin(), out.end());
  return out;
}

bool H5Reader::has_attribute(std::string_view object, std::string_view name) const {
  QuietHdf5 quiet;
  const std::string path = absolute(object);
  if (!link_exists(file_.get(), path)) return false;
  const std::string attr(name);
  return check(H5Aexists_by_name(file_.get(), path.c_str(), attr.c_str(), H5P_DEFAULT), path_, path + "@" + attr,
               "cannot look up attribute") > 0;
}

std::string H5Reader::attribute_string(std::string_view object, std::string_view name) const {
  QuietHdf5 quiet;
  const std::string path = absolute(object);
  const std::string attr(name);
  const std::string where = path + "@" + attr;
  const Opened a = open_attribute(file_.get(), path, attr, where, path_);
  return only_value(
      read_string_values(
          a.type.get(), a.count, [&](hid_t mem, void* buffer) { return H5Aread(a.object.get(), mem, buffer); }, path_, where),
      path_, "attribute", where, "strings");
}

template <H5Number T>
std::vector<T> H5Reader::attribute(std::string_view object, std::string_view name) const {
  QuietHdf5 quiet;
  const std::string path = absolute(object);
  const std::string attr(name);
  const std::string where = path + "@" + attr;
  const Opened a = open_attribute(file_.get(), path, attr, where, path_);
  check_numeric<T>(a.type.get(), path_, where);
  const NumberType type = number_type<T>();
  std::vector<T> out(a.count);
  if (!out.empty()) check(H5Aread(a.object.get(), type.memory, out.data()), path_, where, cat("cannot read as ", type.name));
  return out;
}

double H5Reader::attribute_double(std::string_view object, std::string_view name) const {
  return only_value(attribute<double>(object, name), path_, "attribute", cat(absolute(object), "@", name), "values");
}

int64_t H5Reader::attribute_int64(std::string_view object, std::string_view name) const {
  return only_value(attribute<int64_t>(object, name), path_, "attribute", cat(absolute(object), "@", name), "values");
}

#define MOQA_H5_INSTANTIATE(T)                                                                                   \
  template void H5Writer::write<T>(std::string_view, std::span<const T>, const Shape&);                          \
  template void H5Writer::set_attribute_values<T>(std::string_view, std::string_view, std::span<const T>, bool); \
  template H5Array<T> H5Reader::read<T>(std::string_view) const;                                                 \
  template std::vector<T> H5Reader::attribute<T>(std::string_view, std::string_view) const;
MOQA_H5_INSTANTIATE(double)
MOQA_H5_INSTANTIATE(float)
MOQA_H5_INSTANTIATE(int64_t)
MOQA_H5_INSTANTIATE(int32_t)
MOQA_H5_INSTANTIATE(uint8_t)
#undef MOQA_H5_INSTANTIATE

}  // namespace moqa::io
