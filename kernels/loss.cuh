#pragma once
// Per-row negative log-likelihood on the device; reference: backend::cpu::nll (src/backend/cpu/loss.cpp).
#include <cuda_runtime.h>

#include <cstdint>

namespace moqa::cuda {

// out[r] = log(sum_c exp(logits[r, c])) - logits[r, targets[r]] for logits [rows, cols]; targets already
// validated to lie in [0, cols).
void nll(const float* logits, int64_t rows, int64_t cols, const int32_t* targets, float* out, cudaStream_t stream);

}  // namespace moqa::cuda
