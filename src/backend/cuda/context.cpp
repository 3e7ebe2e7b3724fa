#include "backend/cuda/context.h"

#include <cstdint>

#include "core/error.h"

namespace moqa::cuda {
namespace {

// Selects the device before the stream and handles are created on it.
int select_device(int device) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();
    fail("cuda backend: no usable CUDA driver or device (", cudaGetErrorName(status), ": ", cudaGetErrorString(status),
         ")");
  }
  MOQA_CHECK(device >= 0 && device < count, "cuda backend: device ", device, " requested, ", count,
             " visible (CUDA_VISIBLE_DEVICES restricts them)");
  MOQA_CUDA_CHECK(cudaSetDevice(device));
  // Keep freed blocks in the stream-ordered pool instead of returning them to the driver at every
  // synchronisation: the forward pass frees and reallocates the same sizes layer after layer.
  cudaMemPool_t pool = nullptr;
  MOQA_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
  uint64_t keep_all = UINT64_MAX;
  MOQA_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep_all));
  return device;
}

}  // namespace

Context::Context(int device_index, bool poison)
    : device(select_device(device_index)), poison_allocations(poison), blas(stream.get()), solver(stream.get()) {
  cudaDeviceProp properties{};
  MOQA_CUDA_CHECK(cudaGetDeviceProperties(&properties, device));
  device_name = properties.name;
  compute_major = properties.major;
  compute_minor = properties.minor;
}

void Context::activate() const { MOQA_CUDA_CHECK(cudaSetDevice(device)); }

backend::Array allocate(const std::shared_ptr<Context>& context, Shape shape, DType type) {
  const int64_t count = element_count(shape);
  MOQA_CHECK(count >= 0, "cuda backend: cannot allocate an array of shape ", to_string(shape));
  const size_t bytes = static_cast<size_t>(count) * dtype_bytes(type);
  auto storage = std::make_shared<CudaStorage>();
  storage->context = context;
  storage->memory = std::make_shared<DeviceMemory>(bytes, context->stream_handle());
  storage->dtype = type;
  // All-ones bits are NaN in float32 and bfloat16 alike.
  if (context->poison_allocations && bytes > 0) {
    MOQA_CUDA_CHECK(cudaMemsetAsync(storage->memory->get(), 0xFF, bytes, context->stream_handle()));
  }
  backend::Array out;
  out.shape = std::move(shape);
  out.storage = std::move(storage);
  return out;
}

CudaStorage& storage_of(const backend::Array& array, const char* op) {
  MOQA_CHECK(!array.empty(), "cuda backend ", op, ": the array is empty (never created)");
  auto* storage = dynamic_cast<CudaStorage*>(array.storage.get());
  MOQA_CHECK(storage != nullptr, "cuda backend ", op, ": the array belongs to another backend");
  return *storage;
}

float* f32(const backend::Array& array, const char* op) {
  CudaStorage& storage = storage_of(array, op);
  MOQA_CHECK(storage.dtype == DType::float32, "cuda backend ", op, ": expected a float32 array, got a ",
             dtype_name(storage.dtype), " one of shape ", to_string(array.shape),
             " (weights uploaded with upload_weight are bfloat16; only linear and embedding read those)");
  return static_cast<float*>(storage.data());
}

}  // namespace moqa::cuda
