#pragma once
// Device-side helpers shared by the kernels (.cu files only): launch sizing and warp/block reductions.
// Reductions combine partial values in a fixed order, so a kernel's result does not change from run to run.
#include <cuda_runtime.h>

#include <cstdint>

#include "core/error.h"

namespace moqa::cuda {

constexpr int kThreads = 256;  // default block size of element-wise kernels (a multiple of 32)

// Blocks for a grid-stride loop over `count` items; capped, the loop covers the rest. count must be > 0.
inline unsigned grid_for(int64_t count, int threads = kThreads) {
  const int64_t blocks = (count + threads - 1) / threads;
  constexpr int64_t kMaxBlocks = int64_t{1} << 20;
  return static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

// A one-dimensional grid of exactly `blocks` blocks (one block per item of work); throws beyond CUDA's limit.
inline unsigned exact_grid(int64_t blocks, const char* kernel) {
  MOQA_CHECK(blocks > 0 && blocks <= 2147483647, kernel, ": ", blocks,
             " blocks do not fit a CUDA grid (1 .. 2^31 - 1)");
  return static_cast<unsigned>(blocks);
}

// Grid-stride loop index helpers (64-bit: tensors here exceed 2^31 elements).
__device__ inline int64_t global_thread() { return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ inline int64_t grid_threads() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

template <class T>
__device__ inline T warp_sum(T v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ inline float warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

__device__ inline float warp_min(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v = fminf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Block-wide sum / max returned to every thread. blockDim.x must be a multiple of 32 (at most 1024) and
// every thread of the block must call it; `scratch` is 32 values of shared memory, reusable right after.
template <class T>
__device__ inline T block_sum(T v, T* scratch) {
  v = warp_sum(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  __syncthreads();  // a previous reduction may still be reading scratch
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  T total = scratch[0];
  for (int w = 1; w < warps; ++w) total += scratch[w];
  return total;
}

__device__ inline float block_max(float v, float* scratch) {
  v = warp_max(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float best = scratch[0];
  for (int w = 1; w < warps; ++w) best = fmaxf(best, scratch[w]);
  return best;
}

// Threads for a block that reduces over `count` values: a multiple of 32 in [32, 256].
inline int reduction_threads(int64_t count) {
  if (count >= 256) return 256;
  const int64_t rounded = (count + 31) / 32 * 32;
  return static_cast<int>(rounded < 32 ? 32 : rounded);
}

}  // namespace moqa::cuda
