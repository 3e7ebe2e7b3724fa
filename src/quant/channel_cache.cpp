#include "quant/channel_cache.h"

#include <algorithm>

#include "core/error.h"
#include "quant/uniform_grid.h"

namespace moqa::quant {
namespace {

void check_indices(const std::vector<int64_t>& indices, int64_t limit, const char* what, std::string_view matrix) {
  for (size_t i = 0; i < indices.size(); ++i) {
    MOQA_CHECK(indices[i] >= 0 && indices[i] < limit, matrix, ": cached ", what, " ", indices[i], " outside [0, ",
               limit, ")");
    MOQA_CHECK(i == 0 || indices[i] > indices[i - 1], matrix, ": cached ", what, "s must be strictly ascending, found ",
               indices[i - 1], " before ", indices[i]);
  }
}

void check_cache(const ChannelCache& cache, std::string_view matrix) {
  check_indices(cache.columns, cache.matrix_cols, "column", matrix);
  check_indices(cache.rows, cache.matrix_rows, "row", matrix);
  MOQA_CHECK(cache.column_values.size() == static_cast<size_t>(cache.matrix_rows) * cache.columns.size(), matrix,
             ": channel cache holds ", cache.column_values.size(), " column values, expected ", cache.matrix_rows,
             " x ", cache.columns.size());
  MOQA_CHECK(cache.row_values.size() == static_cast<size_t>(cache.matrix_cols) * cache.rows.size(), matrix,
             ": channel cache holds ", cache.row_values.size(), " row values, expected ", cache.rows.size(), " x ",
             cache.matrix_cols);
}

}  // namespace

int64_t ChannelCache::cached_elements() const {
  const auto c = static_cast<int64_t>(columns.size()), r = static_cast<int64_t>(rows.size());
  return c * matrix_rows + r * matrix_cols - c * r;
}

ChannelCache make_channel_cache(const Tensor& weight, std::vector<int64_t> columns, std::vector<int64_t> rows,
                                std::string_view matrix) {
  MOQA_CHECK(weight.rank() == 2, matrix, ": channel cache of a tensor of shape ", to_string(weight.shape),
             ", expected a matrix");
  ChannelCache cache;
  cache.matrix_rows = weight.dim(0);
  cache.matrix_cols = weight.dim(1);
  cache.columns = std::move(columns);
  cache.rows = std::move(rows);
  check_indices(cache.columns, cache.matrix_cols, "column", matrix);
  check_indices(cache.rows, cache.matrix_rows, "row", matrix);
  cache.column_values.reserve(static_cast<size_t>(cache.matrix_rows) * cache.columns.size());
  for (int64_t r = 0; r < cache.matrix_rows; ++r)
    for (const int64_t c : cache.columns)
      cache.column_values.push_back(weight.data[static_cast<size_t>(r * cache.matrix_cols + c)]);
  for (const int64_t r : cache.rows) {
    const auto row = weight.row(r);
    cache.row_values.insert(cache.row_values.end(), row.begin(), row.end());
  }
  return cache;
}

void apply_channel_cache(Tensor& weight, const ChannelCache& cache) {
  MOQA_CHECK(weight.shape == (Shape{cache.matrix_rows, cache.matrix_cols}), "channel cache for a [", cache.matrix_rows,
             ", ", cache.matrix_cols, "] matrix applied to one of shape ", to_string(weight.shape));
  const size_t k = cache.columns.size();
  for (int64_t r = 0; r < cache.matrix_rows; ++r)
    for (size_t j = 0; j < k; ++j)
      weight.data[static_cast<size_t>(r * cache.matrix_cols + cache.columns[j])] =
          cache.column_values[static_cast<size_t>(r) * k + j];
  for (size_t i = 0; i < cache.rows.size(); ++i)
    std::copy_n(cache.row_values.begin() + static_cast<std::ptrdiff_t>(i * static_cast<size_t>(cache.matrix_cols)),
                cache.matrix_cols, weight.row(cache.rows[i]).begin());
}

Tensor dequantize_with_cache(const QuantizedMatrix& baseline, const ChannelCache& cache, std::string_view matrix) {
  Tensor out = dequantize(baseline, matrix);
  if (!cache.empty()) {
    check_cache(cache, matrix);
    apply_channel_cache(out, cache);
  }
  return out;
}

ChannelCache requantize_channel_cache(const QuantizedMatrix& baseline, const ChannelCache& cache, int bits,
                                      std::string_view matrix) {
  MOQA_CHECK(is_supported_bits(bits), matrix, ": re-quantization to ", bits, " bits, expected 2, 3, 4, 6 or 8");
  MOQA_CHECK(cache.matrix_rows == baseline.rows && cache.matrix_cols == baseline.cols, matrix,
             ": channel cache for a [", cache.matrix_rows, ", ", cache.matrix_cols, "] matrix, quantized matrix is [",
             baseline.rows, ", ", baseline.cols, "]");
  check_cache(cache, matrix);
  const Tensor reference = dequantize_with_cache(baseline, cache, matrix);

  // Columns of each group of the baseline's layout, and whether a group holds a cached column.
  const int64_t groups = baseline.groups();
  std::vector<std::vector<int64_t>> group_columns(static_cast<size_t>(groups));
  for (int64_t c = 0; c < baseline.cols; ++c) {
    const int64_t g = baseline.g_idx.empty() ? c / baseline.group_size : baseline.g_idx[static_cast<size_t>(c)];
    group_columns[static_cast<size_t>(g)].push_back(c);
  }
  std::vector<char> column_cached(static_cast<size_t>(baseline.cols), 0);
  for (const int64_t c : cache.columns) column_cached[static_cast<size_t>(c)] = 1;
  std::vector<char> group_has_cached(static_cast<size_t>(groups), 0);
  for (int64_t g = 0; g < groups; ++g)
    for (const int64_t c : group_columns[static_cast<size_t>(g)])
      if (column_cached[static_cast<size_t>(c)]) group_has_cached[static_cast<size_t>(g)] = 1;

  // Re-quantized values of every (row, group) that holds a cached entry, written into a copy of the
  // reference; the cached positions are then read back out of it.
  Tensor requantized = reference;
  std::vector<float> values;
  size_t next_cached_row = 0;
  for (int64_t r = 0; r < baseline.rows; ++r) {
    const bool whole_row = next_cached_row < cache.rows.size() && cache.rows[next_cached_row] == r;
    if (whole_row) ++next_cached_row;
    for (int64_t g = 0; g < groups; ++g) {
      if (!whole_row && !group_has_cached[static_cast<size_t>(g)]) continue;
      const auto& cols = group_columns[static_cast<size_t>(g)];
      values.clear();
      for (const int64_t c : cols) values.push_back(reference.data[static_cast<size_t>(r * baseline.cols + c)]);
      GroupGrid grid = fit_grid(values, bits, baseline.symmetric);
      grid.scale = stored_scale(grid.scale, baseline.scale_dtype);  // as the baseline would store it
      for (const int64_t c : cols) {
        if (!whole_row && !column_cached[static_cast<size_t>(c)]) continue;
        float& v = requantized.data[static_cast<size_t>(r * baseline.cols + c)];
        v = dequantize_value(quantize_value(v, grid, bits), grid);
      }
    }
  }
  return make_channel_cache(requantized, cache.columns, cache.rows, matrix);
}

Tensor adjusted_weights(const QuantizedMatrix& baseline, const ChannelCache& fp_cache, int bits,
                        std::string_view matrix) {
  return dequantize_with_cache(baseline, requantize_channel_cache(baseline, fp_cache, bits, matrix), matrix);
}

}  // namespace moqa::quant
