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

template <H5Number T>
hid_t memory_type() {
  if constexpr (std::is_same_v<T, double>) return H5T_NATIVE_DOUBLE;
  if constexpr (std::is_same_v<T, float>) return H5T_NATIVE_FLOAT;
  if constexpr (std::is_same_v<T, int64_t>) return H5T_NATIVE_INT64;
  if constexpr (std::is_same_v<T, int32_t>) return H5T_NATIVE_INT32;
  if constexpr (std::is_same_v<T, uint8_t>) return H5T_NATIVE_UINT8;
}

// Fixed little-endian file types, so files are the same whatever machine wrote them.
template <H5Number T>
hid_t file_type() {
  if constexpr (std::is_same_v<T, double>) return H5T_IEEE_F64LE;
  if constexpr (std::is_same_v<T, float>) return H5T_IEEE_F32LE;
  if constexpr (std::is_same_v<T, int64_t>) return H5T_STD_I64LE;
  if constexpr (std::is_same_v<T, int32_t>) return H5T_STD_I32LE;
  if constexpr (std::is_same_v<T, uint8_t>) return H5T_STD_U8LE;
}

template <H5Number T>
const char* type_name() {
  if constexpr (std::is_same_v<T, double>) return "float64";
  if constexpr (std::is_same_v<T, float>) return "float32";
  if constexpr (std::is_same_v<T, int64_t>) return "int64";
  if constexpr (std::is_same_v<T, int32_t>) return "int32";
  if constexpr (std::is_same_v<T, uint8_t>) return "uint8";
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
         type_name<T>());
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
    H5O_info_t info;
#if H5_VERSION_GE(1, 12, 0)
    check(H5Oget_info_by_name3(f, name.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT), temp_path(), name, "cannot inspect");
#else
    check(H5Oget_info_by_name2(f, name.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT), temp_path(), name, "cannot inspect");
#endif
    if (info.type != H5O_TYPE_GROUP) fail("HDF5 file '", temp_path().string(), "': '", name, "' exists and is not a group");
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
  if (link_exists(f, name)) fail("HDF5 file '", temp_path().string(), "': dataset '", name, "' already exists");
  H5Id space = simple_space(shape, temp_path(), name);
  H5Id lcpl = parents_lcpl(temp_path(), name);
  H5Id dataset = owned(H5Dcreate2(f, name.c_str(), file_type<T>(), space.get(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), H5Dclose,
                       temp_path(), name, cat("cannot create ", type_name<T>(), " dataset of shape ", to_string(shape)));
  if (!values.empty())
    check(H5Dwrite(dataset.get(), memory_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), temp_path(), name,
          "cannot write dataset");
}

void H5Writer::write_strings(std::string_view path, const std::vector<std::string>& values) {
  QuietHdf5 quiet;
  const std::string name = absolute(path);
  const hid_t f = file();
  if (link_exists(f, name)) fail("HDF5 file '", temp_path().string(), "': dataset '", name, "' already exists");
  H5Id type = utf8_string_type(temp_path(), name);
  H5Id space = simple_space(Shape{static_cast<int64_t>(values.size())}, temp_path(), name);
  H5Id lcpl = parents_lcpl(temp_path(), name);
  H5Id dataset = owned(H5Dcreate2(f, name.c_str(), type.get(), space.get(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), H5Dclose,
                       temp_path(), name, "cannot create string dataset");
  std::vector<const char*> pointers;
  for (const auto& v : values) pointers.push_back(v.c_str());
  if (!pointers.empty())
    check(H5Dwrite(dataset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()), temp_path(), name,
          "cannot write strings");
}

void H5Writer::write_string(std::string_view path, std::string_view value) {
  QuietHdf5 quiet;
  const std::string name = absolute(path);
  const hid_t f = file();
  if (link_exists(f, name)) fail("HDF5 file '", temp_path().string(), "': dataset '", name, "' already exists");
  H5Id type = utf8_string_type(temp_path(), name);
  H5Id space = simple_space(Shape{}, temp_path(), name);
  H5Id lcpl = parents_lcpl(temp_path(), name);
  H5Id dataset = owned(H5Dcreate2(f, name.c_str(), type.get(), space.get(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), H5Dclose,
                       temp_path(), name, "cannot create string dataset");
  const std::string text(value);
  const char* pointer = text.c_str();
  check(H5Dwrite(dataset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &pointer), temp_path(), name, "cannot write string");
}

void H5Writer::set_attribute(std::string_view object, std::string_view name, std::string_view value) {
  QuietHdf5 quiet;
  const std::string path = absolute(object);
  const std::string attr(name);
  const std::string where = path + "@" + attr;
  const hid_t f = file();
  if (!link_exists(f, path)) fail("HDF5 file '", temp_path().string(), "': cannot set attribute '", attr, "' on missing object '", path, "'");
  if (check(H5Aexists_by_name(f, path.c_str(), attr.c_str(), H5P_DEFAULT), temp_path(), where, "cannot look up attribute") > 0)
    check(H5Adelete_by_name(f, path.c_str(), attr.c_str(), H5P_DEFAULT), temp_path(), where, "cannot replace attribute");
  H5Id type = utf8_string_type(temp_path(), where);
  H5Id space = simple_space(Shape{}, temp_path(), where);
  H5Id attribute = owned(H5Acreate_by_name(f, path.c_str(), attr.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                         H5Aclose, temp_path(), where, "cannot create string attribute");
  const std::string text(value);
  const char* pointer = text.c_str();
  check(H5Awrite(attribute.get(), type.get(), &pointer), temp_path(), where, "cannot write attribute");
}

template <H5Number T>
void H5Writer::set_attribute_values(std::string_view object, std::string_view name, std::span<const T> values, bool scalar) {
  QuietHdf5 quiet;
  const std::string path = absolute(object);
  const std::string attr(name);
  const std::string where = path + "@" + attr;
  const hid_t f = file();
  if (!link_exists(f, path)) fail("HDF5 file '", temp_path().string(), "': cannot set attribute '", attr, "' on missing object '", path, "'");
  if (check(H5Aexists_by_name(f, path.c_str(), attr.c_str(), H5P_DEFAULT), temp_path(), where, "cannot look up attribute") > 0)
    check(H5Adelete_by_name(f, path.c_str(), attr.c_str(), H5P_DEFAULT), temp_path(), where, "cannot replace attribute");
  H5Id space = simple_space(scalar ? Shape{} : Shape{static_cast<int64_t>(values.size())}, temp_path(), where);
  H5Id attribute = owned(H5Acreate_by_name(f, path.c_str(), attr.c_str(), file_type<T>(), space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                         H5Aclose, temp_path(), where, cat("cannot create ", type_name<T>(), " attribute"));
  if (!values.empty()) check(H5Awrite(attribute.get(), memory_type<T>(), values.data()), temp_path(), where, "cannot write attribute");
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
  if (!link_exists(file_.get(), name)) return false;
  H5O_info_t info;
#if H5_VERSION_GE(1, 12, 0)
  check(H5Oget_info_by_name3(file_.get(), name.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT), path_, name, "cannot inspect");
#else
  check(H5Oget_info_by_name2(file_.get(), name.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT), path_, name, "cannot inspect");
#endif
  return info.type == H5O_TYPE_GROUP;
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
  const std::string name = absolute(dataset);
  H5Id d = owned(H5Dopen2(file_.get(), name.c_str(), H5P_DEFAULT), H5Dclose, path_, name, "cannot open dataset");
  H5Id space = owned(H5Dget_space(d.get()), H5Sclose, path_, name, "cannot read dataspace");
  return shape_of(space.get(), path_, name);
}

template <H5Number T>
H5Array<T> H5Reader::read(std::string_view dataset) const {
  QuietHdf5 quiet;
  const std::string name = absolute(dataset);
  H5Id d = owned(H5Dopen2(file_.get(), name.c_str(), H5P_DEFAULT), H5Dclose, path_, name, "cannot open dataset");
  H5Id type = owned(H5Dget_type(d.get()), H5Tclose, path_, name, "cannot read datatype");
  check_numeric<T>(type.get(), path_, name);
  H5Id space = owned(H5Dget_space(d.get()), H5Sclose, path_, name, "cannot read dataspace");
  H5Array<T> out;
  out.shape = shape_of(space.get(), path_, name);
  out.values.resize(static_cast<size_t>(element_count(out.shape)));
  if (!out.values.empty())
    check(H5Dread(d.get(), memory_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.values.data()), path_, name,
          cat("cannot read as ", type_name<T>()));
  return out;
}

Tensor H5Reader::read_tensor(std::string_view dataset) const {
  H5Array<float> values = read<float>(dataset);
  return Tensor(std::move(values.shape), std::move(values.values));
}

std::vector<std::string> H5Reader::read_strings(std::string_view dataset) const {
  QuietHdf5 quiet;
  const std::string name = absolute(dataset);
  H5Id d = owned(H5Dopen2(file_.get(), name.c_str(), H5P_DEFAULT), H5Dclose, path_, name, "cannot open dataset");
  H5Id type = owned(H5Dget_type(d.get()), H5Tclose, path_, name, "cannot read datatype");
  H5Id space = owned(H5Dget_space(d.get()), H5Sclose, path_, name, "cannot read dataspace");
  const auto count = static_cast<size_t>(check(H5Sget_simple_extent_npoints(space.get()), path_, name, "cannot count"));
  return read_string_values(
      type.get(), count, [&](hid_t mem, void* buffer) { return H5Dread(d.get(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer); }, path_,
      name);
}

std::string H5Reader::read_string(std::string_view dataset) const {
  auto values = read_strings(dataset);
  MOQA_CHECK(values.size() == 1, "HDF5 file '", path_.string(), "', dataset '", absolute(dataset), "': holds ", values.size(),
             " strings, expected one");
  return values.front();
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
  H5Id a = owned(H5Aopen_by_name(file_.get(), path.c_str(), attr.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose, path_, where,
                 "cannot open attribute");
  H5Id type = owned(H5Aget_type(a.get()), H5Tclose, path_, where, "cannot read attribute type");
  H5Id space = owned(H5Aget_space(a.get()), H5Sclose, path_, where, "cannot read attribute dataspace");
  const auto count = static_cast<size_t>(check(H5Sget_simple_extent_npoints(space.get()), path_, where, "cannot count"));
  auto values = read_string_values(
      type.get(), count, [&](hid_t mem, void* buffer) { return H5Aread(a.get(), mem, buffer); }, path_, where);
  MOQA_CHECK(values.size() == 1, "HDF5 file '", path_.string(), "', attribute '", where, "': holds ", values.size(),
             " strings, expected one");
  return values.front();
}

template <H5Number T>
std::vector<T> H5Reader::attribute(std::string_view object, std::string_view name) const {
  QuietHdf5 quiet;
  const std::string path = absolute(object);
  const std::string attr(name);
  const std::string where = path + "@" + attr;
  H5Id a = owned(H5Aopen_by_name(file_.get(), path.c_str(), attr.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose, path_, where,
                 "cannot open attribute");
  H5Id type = owned(H5Aget_type(a.get()), H5Tclose, path_, where, "cannot read attribute type");
  check_numeric<T>(type.get(), path_, where);
  H5Id space = owned(H5Aget_space(a.get()), H5Sclose, path_, where, "cannot read attribute dataspace");
  const auto count = static_cast<size_t>(check(H5Sget_simple_extent_npoints(space.get()), path_, where, "cannot count"));
  std::vector<T> out(count);
  if (count > 0) check(H5Aread(a.get(), memory_type<T>(), out.data()), path_, where, cat("cannot read as ", type_name<T>()));
  return out;
}

double H5Reader::attribute_double(std::string_view object, std::string_view name) const {
  const auto values = attribute<double>(object, name);
  MOQA_CHECK(values.size() == 1, "HDF5 file '", path_.string(), "', attribute '", absolute(object), "@", name, "': holds ",
             values.size(), " values, expected one");
  return values.front();
}

int64_t H5Reader::attribute_int64(std::string_view object, std::string_view name) const {
  const auto values = attribute<int64_t>(object, name);
  MOQA_CHECK(values.size() == 1, "HDF5 file '", path_.string(), "', attribute '", absolute(object), "@", name, "': holds ",
             values.size(), " values, expected one");
  return values.front();
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
