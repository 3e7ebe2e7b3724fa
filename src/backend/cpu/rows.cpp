// Row and column-block movement: embedding lookup, gather/scatter of token rows, block copies.
#include <algorithm>

#include "backend/cpu/kernels.h"
#include "core/error.h"

namespace moqa::backend::cpu {

void embedding(const float* table, int64_t vocab, int64_t dim, std::span<const int32_t> ids, float* out) {
  for (size_t i = 0; i < ids.size(); ++i) {
    MOQA_CHECK(ids[i] >= 0 && ids[i] < vocab, "embedding: token id ", ids[i], " at position ", i,
               " is outside the vocabulary [0, ", vocab, ")");
    std::copy_n(table + ids[i] * dim, dim, out + static_cast<int64_t>(i) * dim);
  }
}

void gather_rows(const float* x, int64_t cols, std::span<const int32_t> rows, int64_t x_rows, float* out) {
  for (size_t i = 0; i < rows.size(); ++i) {
    MOQA_CHECK(rows[i] >= 0 && rows[i] < x_rows, "gather_rows: row ", rows[i], " outside [0, ", x_rows, ")");
    std::copy_n(x + rows[i] * cols, cols, out + static_cast<int64_t>(i) * cols);
  }
}

void scatter_add_rows(float* dst, int64_t dst_rows, int64_t cols, const float* src, std::span<const int32_t> rows,
                      std::span<const float> weights) {
  for (size_t i = 0; i < rows.size(); ++i) {
    MOQA_CHECK(rows[i] >= 0 && rows[i] < dst_rows, "scatter_add_rows: row ", rows[i], " outside [0, ", dst_rows,
               ")");
    float* d = dst + rows[i] * cols;
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
