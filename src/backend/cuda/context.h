#pragma once
// What the CUDA backend and the device code beside it share (host glue only; includes CUDA headers):
// the device context (stream, cuBLAS and cuSOLVER handles) and the storage of an Array in device memory.
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <string>

#include "backend/array.h"
#include "kernels/device_memory.cuh"

namespace moqa::cuda {

enum class DType { float32, bfloat16 };

inline size_t dtype_bytes(DType type) { return type == DType::float32 ? 4 : 2; }
inline const char* dtype_name(DType type) { return type == DType::float32 ? "float32" : "bfloat16"; }

// Owned by the backend and by every array it created, so that device memory is always released on the
// stream that allocated it, and the stream outlives it.
struct Context {
  Context(int device, bool poison_allocations);
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Makes this context's device current for the calling thread (cheap when it already is).
  void activate() const;
  cudaStream_t stream_handle() const { return stream.get(); }

  int device;
  std::string device_name;
  int compute_major = 0, compute_minor = 0;
  bool poison_allocations;
  Stream stream;  // declared before the handles bound to it, so destroyed after them
  BlasHandle blas;
  SolverHandle solver;
};

// An Array's device storage: a view into one allocation, shared by reshapes and row slices.
struct CudaStorage final : backend::ArrayStorage {
  std::shared_ptr<Context> context;  // declared first: outlives `memory`
  std::shared_ptr<DeviceMemory> memory;
  size_t byte_offset = 0;
  DType dtype = DType::float32;

  void* data() const { return static_cast<char*>(memory->get()) + byte_offset; }
};

// A new array of `shape` and `type` (NaN-filled when the context poisons allocations).
backend::Array allocate(const std::shared_ptr<Context>& context, Shape shape, DType type);

// The storage of an array created by a CUDA backend; throws naming `op` otherwise.
CudaStorage& storage_of(const backend::Array& array, const char* op);
// Device pointer of a float32 array (throws naming `op` for another type or backend).
float* f32(const backend::Array& array, const char* op);

}  // namespace moqa::cuda
