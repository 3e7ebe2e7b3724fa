// Row and column-block movement: gather (also the embedding lookup) and scatter of token rows, block copies.
#include <algorithm>

#include "backend/cpu/kernels.h"

namespace moqa::backend::cpu {

void gather_rows(const float* x, int64_t cols, std::span<const int32_t> rows, float* out) {
  for (size_t i = 0; i < rows.size(); ++i) {
    std::copy_n(x + static_cast<int64_t>(rows[i]) * cols, cols, out + static_cast<int64_t>(i) * cols);
  }
}

void scatter_add_rows(float* dst, int64_t cols, const float* src, std::span<const int32_t> rows,
                      std::span<const float> weights) {
  for (size_t i = 0; i < rows.size(); ++i) {
    float* d = dst + static_cast<int64_t>(rows[i]) * cols;
    const float* s = src + static_cast<int64_t>(i) * cols;
    const float w = weights[i];
    for (int64_t c = 0; c < cols; ++c) d[c] += s[c] * w;
  }
}

void copy_blocks(const float* src, int64_t src_cols, float* dst, int64_t dst_cols, int64_t rows,
                 const BlockCopy& blocks) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < blocks.count; ++i) {
      std::copy_n(src + r * src_cols + blocks.src_offset + i * blocks.src_stride, blocks.width,
                  dst + r * dst_cols + blocks.dst_offset + i * blocks.dst_stride);
    }
  }
}

}  // namespace moqa::backend::cpu
