#pragma once
// RAII owners of CUDA resources: stream-ordered device memory, streams, events and library handles.
// Every owner is move-only; destructors never throw (a failing release during unwinding is ignored, as
// there is nothing useful left to do with it).
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "kernels/check.cuh"

namespace moqa::cuda {

// Device memory from the stream-ordered allocator (cudaMallocAsync): allocated and freed in the order of
// `stream`, so temporaries of a sequence of launches cost no device-wide synchronisation. The stream must
// outlive the memory.
class DeviceMemory {
 public:
  DeviceMemory() = default;
  DeviceMemory(size_t bytes, cudaStream_t stream) : bytes_(bytes), stream_(stream) {
    if (bytes > 0) MOQA_CUDA_CHECK(cudaMallocAsync(&ptr_, bytes, stream));
  }
  ~DeviceMemory() { release(); }
  DeviceMemory(DeviceMemory&& other) noexcept
      : ptr_(std::exchange(other.ptr_, nullptr)), bytes_(std::exchange(other.bytes_, 0)), stream_(other.stream_) {}
  DeviceMemory& operator=(DeviceMemory&& other) noexcept {
    if (this != &other) {
      release();
      ptr_ = std::exchange(other.ptr_, nullptr);
      bytes_ = std::exchange(other.bytes_, 0);
      stream_ = other.stream_;
    }
    return *this;
  }
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;

  void* get() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  cudaStream_t stream() const { return stream_; }

 private:
  void release() noexcept {
    if (ptr_ != nullptr) cudaFreeAsync(ptr_, stream_);
    ptr_ = nullptr;
  }
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
  cudaStream_t stream_ = nullptr;
};

// `count` elements of T in DeviceMemory (uninitialised).
template <class T>
class DeviceArray {
 public:
  DeviceArray() = default;
  DeviceArray(size_t count, cudaStream_t stream) : memory_(count * sizeof(T), stream), count_(count) {}
  T* data() const { return static_cast<T*>(memory_.get()); }
  size_t size() const { return count_; }
  cudaStream_t stream() const { return memory_.stream(); }

 private:
  DeviceMemory memory_;
  size_t count_ = 0;
};

// Copies `count` host values to a fresh device array (asynchronously in `stream`; a pageable host source
// may be reused as soon as this returns, as cudaMemcpyAsync stages it before returning).
template <class T>
DeviceArray<T> to_device(const T* host, size_t count, cudaStream_t stream) {
  DeviceArray<T> out(count, stream);
  if (count > 0) MOQA_CUDA_CHECK(cudaMemcpyAsync(out.data(), host, count * sizeof(T), cudaMemcpyHostToDevice, stream));
  return out;
}
template <class T>
DeviceArray<T> to_device(const std::vector<T>& host, cudaStream_t stream) {
  return to_device(host.data(), host.size(), stream);
}

// Copies `count` device values to the host and waits for them.
template <class T>
std::vector<T> to_host(const T* device, size_t count, cudaStream_t stream) {
  std::vector<T> out(count);
  if (count > 0) {
    MOQA_CUDA_CHECK(cudaMemcpyAsync(out.data(), device, count * sizeof(T), cudaMemcpyDeviceToHost, stream));
    MOQA_CUDA_CHECK(cudaStreamSynchronize(stream));
  }
  return out;
}

class Stream {
 public:
  Stream() { MOQA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  ~Stream() {
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }
  Stream(Stream&& other) noexcept : stream_(std::exchange(other.stream_, nullptr)) {}
  Stream& operator=(Stream&&) = delete;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }
  void synchronize() const { MOQA_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

 private:
  cudaStream_t stream_ = nullptr;
};

class Event {
 public:
  Event() { MOQA_CUDA_CHECK(cudaEventCreate(&event_)); }
  ~Event() {
    if (event_ != nullptr) cudaEventDestroy(event_);
  }
  Event(Event&& other) noexcept : event_(std::exchange(other.event_, nullptr)) {}
  Event& operator=(Event&&) = delete;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return event_; }
  void record(cudaStream_t stream) { MOQA_CUDA_CHECK(cudaEventRecord(event_, stream)); }
  // Milliseconds from `start` to this event (both recorded; waits for this one).
  float milliseconds_since(const Event& start) const {
    MOQA_CUDA_CHECK(cudaEventSynchronize(event_));
    float ms = 0.0f;
    MOQA_CUDA_CHECK(cudaEventElapsedTime(&ms, start.event_, event_));
    return ms;
  }

 private:
  cudaEvent_t event_ = nullptr;
};

class BlasHandle {
 public:
  explicit BlasHandle(cudaStream_t stream) {
    MOQA_CUBLAS_CHECK(cublasCreate(&handle_));
    try {
      MOQA_CUBLAS_CHECK(cublasSetStream(handle_, stream));
    } catch (...) {
      cublasDestroy(handle_);  // no destructor runs for a constructor that throws
      throw;
    }
  }
  ~BlasHandle() {
    if (handle_ != nullptr) cublasDestroy(handle_);
  }
  BlasHandle(BlasHandle&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  BlasHandle& operator=(BlasHandle&&) = delete;
  BlasHandle(const BlasHandle&) = delete;
  BlasHandle& operator=(const BlasHandle&) = delete;
  cublasHandle_t get() const { return handle_; }

 private:
  cublasHandle_t handle_ = nullptr;
};

class SolverHandle {
 public:
  explicit SolverHandle(cudaStream_t stream) {
    MOQA_CUSOLVER_CHECK(cusolverDnCreate(&handle_));
    try {
      MOQA_CUSOLVER_CHECK(cusolverDnSetStream(handle_, stream));
    } catch (...) {
      cusolverDnDestroy(handle_);  // no destructor runs for a constructor that throws
      throw;
    }
  }
  ~SolverHandle() {
    if (handle_ != nullptr) cusolverDnDestroy(handle_);
  }
  SolverHandle(SolverHandle&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  SolverHandle& operator=(SolverHandle&&) = delete;
  SolverHandle(const SolverHandle&) = delete;
  SolverHandle& operator=(const SolverHandle&) = delete;
  cusolverDnHandle_t get() const { return handle_; }

 private:
  cusolverDnHandle_t handle_ = nullptr;
};

}  // namespace moqa::cuda
