#pragma once
// Row and column-block movement on the device: embedding lookup, gathers and scatter-adds of token rows,
// block copies. Reference: src/backend/cpu/rows.cpp. Indices arrive on the device already validated by
// the caller (the host checks them against the row count, with the CPU backend's messages).
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/shapes.h"

namespace moqa::cuda {

// out[i, :] = table[ids[i], :] for a float32 table, or a bfloat16 one (raw 16-bit patterns) widened to float32.
void embedding_f32(const float* table, int64_t dim, const int32_t* ids, int64_t count, float* out, cudaStream_t stream);
void embedding_bf16(const uint16_t* table, int64_t dim, const int32_t* ids, int64_t count, float* out,
                    cudaStream_t stream);

// out[i, :] = x[rows[i], :] for i < count.
void gather_rows(const float* x, int64_t cols, const int32_t* rows, int64_t count, float* out, cudaStream_t stream);

// The entries of a scatter-add grouped by destination row: for u < targets, destination row target_rows[u]
// receives, in this order, the source rows entries[offsets[u] .. offsets[u + 1]), which keep the order of
// the original list. dst[target, c] += src[i, c] * weights[i] for each such entry i.
void scatter_add_rows(float* dst, int64_t cols, const float* src, const float* weights, const int32_t* target_rows,
                      const int64_t* offsets, const int32_t* entries, int64_t targets, cudaStream_t stream);

// Per row of src [rows, src_cols] and dst [rows, dst_cols], the column blocks that `blocks` describes.
void copy_blocks(const float* src, int64_t src_cols, float* dst, int64_t dst_cols, int64_t rows,
                 const backend::BlockCopy& blocks, cudaStream_t stream);

}  // namespace moqa::cuda
