#pragma once
// GPTQ Hessian accumulation on the device: sum += Xᵀ X for float32 rows X [count, cols], into a float64
// [cols, cols] accumulator laid out like quant::HessianSum::sum (row-major, element (i, j) with i <= j
// holds the sum; the strict lower triangle is never written). Reference: quant::accumulate
// (src/quant/hessian.cpp), which also widens the inputs to float64 first, so every product is exact and
// only the additions round (here in cuBLAS's order).
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace moqa::cuda {

// Index of the first non-finite value among x[0 .. count), or -1 when all are finite. Synchronises.
int64_t first_non_finite(const float* x, int64_t count, cudaStream_t stream);

// sum += Xᵀ X (upper triangle in row-major terms) with cublasDsyrk on float64 copies of X, converted in
// chunks of at most `chunk_bytes`. `blas` must be bound to `stream`.
void accumulate_hessian(cublasHandle_t blas, const float* x, int64_t count, int64_t cols, double* sum,
                        int64_t chunk_bytes, cudaStream_t stream);

}  // namespace moqa::cuda
