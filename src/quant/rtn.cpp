#include "quant/rtn.h"

#include "quant/uniform_grid.h"

namespace moqa::quant {

QuantizedMatrix quantize_rtn(const Tensor& weight, const QuantSpec& spec, std::string_view matrix) {
  check_weight_matrix(weight, matrix);
  QuantizedMatrix q = quantized_matrix_header(weight.dim(0), weight.dim(1),
                                              effective_group_size(spec, weight.dim(1), matrix), spec);
  const int64_t groups = q.groups();
  q.scales.resize(static_cast<size_t>(q.rows * groups));
  q.zeros.resize(static_cast<size_t>(q.rows * groups));
  std::vector<uint8_t> codes(static_cast<size_t>(q.rows * q.cols));
  for (int64_t r = 0; r < q.rows; ++r) {
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t begin = r * q.cols + g * q.group_size;
      const std::span<const float> group(weight.ptr() + begin, static_cast<size_t>(q.group_size));
      GroupGrid grid = fit_grid(group, q.bits, q.symmetric);
      grid.scale = stored_scale(grid.scale, q.scale_dtype);
      q.scales[static_cast<size_t>(r * groups + g)] = grid.scale;
      q.zeros[static_cast<size_t>(r * groups + g)] = static_cast<uint8_t>(grid.zero);
      for (int64_t c = 0; c < q.group_size; ++c) {
        codes[static_cast<size_t>(begin + c)] = quantize_value(group[static_cast<size_t>(c)], grid, q.bits);
      }
    }
  }
  set_codes(q, codes);
  return q;
}

}  // namespace moqa::quant
