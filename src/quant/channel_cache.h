#pragma once
// The full-precision channel cache of channel-level adjustment (PAPER.md §4.3; docs/ALLOCATION.md §5):
// a few entries of a quantized weight matrix are served from a cache instead of from the codes. The
// cache of a matrix lists whole input columns (an expert's gate/up projections: one column per cached
// hidden channel) and/or whole output rows (its down projection: one row per cached hidden channel),
// with their values. In the baseline model the cache holds the original full-precision values; when a
// novel distribution moves the expert to another width, only the cached entries are re-quantized to that
// width (requantize_channel_cache) and the rest of the matrix stays at the baseline codes.
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "quant/format.h"

namespace moqa::quant {

struct ChannelCache {
  int64_t matrix_rows = 0;  // shape of the matrix the cache belongs to
  int64_t matrix_cols = 0;
  std::vector<int64_t> columns;      // cached input columns, strictly ascending
  std::vector<float> column_values;  // [matrix_rows, columns.size()] row-major
  std::vector<int64_t> rows;         // cached output rows, strictly ascending
  std::vector<float> row_values;     // [rows.size(), matrix_cols] row-major
  // Where a cached row and a cached column cross, the row's value wins.

  bool empty() const { return columns.empty() && rows.empty(); }
  int64_t cached_elements() const;  // distinct entries covered
};

// The entries of `weight` [rows, cols] in the given columns and rows (each strictly ascending, in range;
// throws moqa::Error naming `matrix` otherwise).
ChannelCache make_channel_cache(const Tensor& weight, std::vector<int64_t> columns, std::vector<int64_t> rows,
                                std::string_view matrix);

// Overwrites the cached entries of `weight` (whose shape must be the cache's) with the cached values.
void apply_channel_cache(Tensor& weight, const ChannelCache& cache);

// The same entries re-quantized to `bits` (round to nearest), values dequantized. For each row r and each
// quantization group g of `baseline` that holds a cached entry of row r, a grid of `bits` bits is fitted
// (quant/uniform_grid.h, baseline.symmetric) to the group's reference values - the baseline's dequantized
// values with every cached entry replaced by its cached value - and the cached entries of (r, g) are
// rounded onto it. Non-cached entries are untouched, so the matrix becomes mixed-precision: baseline codes
// everywhere but in the cache. A wholly cached row is therefore plain RTN of its cached values at `bits`
// with the baseline's group layout (g_idx included).
ChannelCache requantize_channel_cache(const QuantizedMatrix& baseline, const ChannelCache& cache, int bits,
                                      std::string_view matrix);

// What a weight source serves: dequantize(baseline) with the cache applied.
Tensor dequantize_with_cache(const QuantizedMatrix& baseline, const ChannelCache& cache, std::string_view matrix);

// The weights after a width change: the baseline with its cached entries re-quantized to `bits`
// (dequantize_with_cache of requantize_channel_cache).
Tensor adjusted_weights(const QuantizedMatrix& baseline, const ChannelCache& fp_cache, int bits,
                        std::string_view matrix);

}  // namespace moqa::quant
