#pragma once
// Checked calls into the CUDA runtime, cuBLAS and cuSOLVER: a failure throws moqa::Error naming the call
// (as written in the source), the library's error name and text, and the source location. Every kernel
// launch is followed by MOQA_CUDA_CHECK_LAUNCH, which reports launch-configuration errors at once
// (asynchronous faults surface at the next checked synchronising call).
// Plain enough for both nvcc (.cu) and the host compiler (.cpp glue in src/backend/cuda).
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include "core/error.h"

namespace moqa::cuda {

[[noreturn]] inline void throw_call_error(const char* library, const char* call, const char* name, const char* text,
                                          const char* file, int line) {
  fail(library, " call `", call, "` failed: ", name, " (", text, ") at ", file, ":", line);
}

inline void check_runtime(cudaError_t status, const char* call, const char* file, int line) {
  if (status != cudaSuccess) {
    cudaGetLastError();  // clear a non-sticky error so that the next call starts clean
    throw_call_error("CUDA", call, cudaGetErrorName(status), cudaGetErrorString(status), file, line);
  }
}

inline void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    throw_call_error("cuBLAS", call, cublasGetStatusString(status), "see the cuBLAS documentation", file, line);
  }
}

inline const char* cusolver_status_name(cusolverStatus_t status) {
  switch (status) {
    case CUSOLVER_STATUS_SUCCESS:
      return "CUSOLVER_STATUS_SUCCESS";
    case CUSOLVER_STATUS_NOT_INITIALIZED:
      return "CUSOLVER_STATUS_NOT_INITIALIZED";
    case CUSOLVER_STATUS_ALLOC_FAILED:
      return "CUSOLVER_STATUS_ALLOC_FAILED";
    case CUSOLVER_STATUS_INVALID_VALUE:
      return "CUSOLVER_STATUS_INVALID_VALUE";
    case CUSOLVER_STATUS_ARCH_MISMATCH:
      return "CUSOLVER_STATUS_ARCH_MISMATCH";
    case CUSOLVER_STATUS_EXECUTION_FAILED:
      return "CUSOLVER_STATUS_EXECUTION_FAILED";
    case CUSOLVER_STATUS_INTERNAL_ERROR:
      return "CUSOLVER_STATUS_INTERNAL_ERROR";
    case CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED:
      return "CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED";
    case CUSOLVER_STATUS_NOT_SUPPORTED:
      return "CUSOLVER_STATUS_NOT_SUPPORTED";
    default:
      return "cusolverStatus_t (unlisted value)";
  }
}

inline void check_cusolver(cusolverStatus_t status, const char* call, const char* file, int line) {
  if (status != CUSOLVER_STATUS_SUCCESS) {
    throw_call_error("cuSOLVER", call, cusolver_status_name(status), "see the cuSOLVER documentation", file, line);
  }
}

}  // namespace moqa::cuda

#define MOQA_CUDA_CHECK(call) ::moqa::cuda::check_runtime((call), #call, __FILE__, __LINE__)
#define MOQA_CUBLAS_CHECK(call) ::moqa::cuda::check_cublas((call), #call, __FILE__, __LINE__)
#define MOQA_CUSOLVER_CHECK(call) ::moqa::cuda::check_cusolver((call), #call, __FILE__, __LINE__)
// After `kernel<<<...>>>(...)`: `name` is the kernel's name for the message.
#define MOQA_CUDA_CHECK_LAUNCH(name) \
  ::moqa::cuda::check_runtime(cudaGetLastError(), "launch of " name, __FILE__, __LINE__)
