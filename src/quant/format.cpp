#include "quant/format.h"

#include <cmath>

#include "core/error.h"
#include "quant/bit_packing.h"
#include "quant/uniform_grid.h"

namespace moqa::quant {

int64_t QuantizedMatrix::words_per_row() const { return packed_words(cols, bits); }

QuantizedMatrix quantized_matrix_header(int64_t rows, int64_t cols, int64_t group_size, const QuantSpec& spec) {
  QuantizedMatrix q;
  q.rows = rows;
  q.cols = cols;
  q.bits = spec.bits;
  q.group_size = group_size;
  q.symmetric = spec.symmetric;
  q.scale_dtype = spec.scale_dtype;
  return q;
}

bool is_supported_bits(int bits) { return bits == 2 || bits == 3 || bits == 4 || bits == 6 || bits == 8; }

int64_t effective_group_size(const QuantSpec& spec, int64_t cols, std::string_view matrix) {
  MOQA_CHECK(is_supported_bits(spec.bits), matrix, ": bits must be one of 2, 3, 4, 6, 8, got ", spec.bits);
  MOQA_CHECK(cols > 0, matrix, ": cannot quantize a matrix with ", cols, " input columns");
  if (spec.group_size <= 0) return cols;
  MOQA_CHECK(cols % spec.group_size == 0, matrix, ": group_size ", spec.group_size,
             " does not divide the ", cols, " input columns (use a divisor of ", cols,
             ", or 0 / -1 for one group per row)");
  return spec.group_size;
}

int64_t overhead_bits(int64_t rows, int64_t cols, int64_t group_size, ScaleDtype scale_dtype, bool has_g_idx) {
  const int64_t groups = group_size > 0 && group_size < cols ? cols / group_size : 1;
  return rows * groups * (8 * scale_bytes(scale_dtype) + 8) + (has_g_idx ? 32 * cols : 0);
}

int64_t overhead_bits(const QuantizedMatrix& q) {
  return overhead_bits(q.rows, q.cols, q.group_size, q.scale_dtype, !q.g_idx.empty());
}

void validate(const QuantizedMatrix& q, std::string_view matrix) {
  MOQA_CHECK(is_supported_bits(q.bits), matrix, ": bits must be one of 2, 3, 4, 6, 8, got ", q.bits);
  MOQA_CHECK(q.rows >= 0 && q.cols > 0, matrix, ": invalid shape [", q.rows, ", ", q.cols, "]");
  MOQA_CHECK(q.group_size > 0 && q.cols % q.group_size == 0, matrix, ": group_size ", q.group_size,
             " does not divide the ", q.cols, " input columns");
  const int64_t cells = q.rows * q.groups();
  MOQA_CHECK(static_cast<int64_t>(q.scales.size()) == cells, matrix, ": scales has ", q.scales.size(),
             " values, expected rows * groups = ", cells);
  MOQA_CHECK(static_cast<int64_t>(q.zeros.size()) == cells, matrix, ": zeros has ", q.zeros.size(),
             " values, expected rows * groups = ", cells);
  MOQA_CHECK(static_cast<int64_t>(q.packed.size()) == q.rows * q.words_per_row(), matrix, ": packed has ",
             q.packed.size(), " words, expected rows * ", q.words_per_row(), " = ", q.rows * q.words_per_row());
  for (size_t i = 0; i < q.scales.size(); ++i) {
    MOQA_CHECK(std::isfinite(q.scales[i]), matrix, ": scale ", i, " is ", q.scales[i], ", expected a finite value");
    MOQA_CHECK(q.scale_dtype != ScaleDtype::f16 ||
                   (std::fabs(q.scales[i]) <= kF16Max && io::f16_to_f32(io::f32_to_f16(q.scales[i])) == q.scales[i]),
               matrix, ": scale ", i, " is ", q.scales[i], ", not a half-precision value, expected f16 scales");
    MOQA_CHECK(q.zeros[i] <= max_code(q.bits), matrix, ": zero ", i, " is ", int(q.zeros[i]), ", expected 0..",
               max_code(q.bits), " for ", q.bits, " bits");
  }
  if (!q.g_idx.empty()) {
    MOQA_CHECK(static_cast<int64_t>(q.g_idx.size()) == q.cols, matrix, ": g_idx has ", q.g_idx.size(),
               " entries, expected one per input column (", q.cols, ")");
    for (size_t c = 0; c < q.g_idx.size(); ++c) {
      MOQA_CHECK(q.g_idx[c] >= 0 && q.g_idx[c] < q.groups(), matrix, ": g_idx[", c, "] is ", q.g_idx[c],
                 ", expected 0..", q.groups() - 1);
    }
  }
}

void check_weight_matrix(const Tensor& weight, std::string_view matrix) {
  MOQA_CHECK(weight.rank() == 2, matrix, ": expected a 2-D weight [out_features, in_features], got shape ",
             to_string(weight.shape));
  MOQA_CHECK(weight.size() == weight.dim(0) * weight.dim(1), matrix, ": shape ", to_string(weight.shape),
             " does not match its ", weight.size(), " values");
  for (int64_t i = 0; i < weight.size(); ++i) {
    MOQA_CHECK(std::isfinite(weight.data[static_cast<size_t>(i)]), matrix, ": weight at row ", i / weight.dim(1),
               ", column ", i % weight.dim(1), " is ", weight.data[static_cast<size_t>(i)], ", expected a finite value");
  }
}

void set_codes(QuantizedMatrix& q, std::span<const uint8_t> codes) {
  MOQA_CHECK(static_cast<int64_t>(codes.size()) == q.rows * q.cols, "set_codes: ", codes.size(),
             " codes for a [", q.rows, ", ", q.cols, "] matrix");
  const int64_t words = q.words_per_row();
  q.packed.assign(static_cast<size_t>(q.rows * words), 0u);
  for (int64_t r = 0; r < q.rows; ++r) {
    pack_codes(codes.subspan(static_cast<size_t>(r * q.cols), static_cast<size_t>(q.cols)), q.bits,
               std::span<uint32_t>(q.packed).subspan(static_cast<size_t>(r * words), static_cast<size_t>(words)));
  }
}

void unpack_row(const QuantizedMatrix& q, int64_t row, std::vector<uint8_t>& codes) {
  codes.resize(static_cast<size_t>(q.cols));
  const int64_t words = q.words_per_row();
  unpack_codes(std::span<const uint32_t>(q.packed).subspan(static_cast<size_t>(row * words), static_cast<size_t>(words)),
               q.bits, codes);
}

Tensor dequantize(const QuantizedMatrix& q, std::string_view matrix) {
  validate(q, matrix);
  Tensor out({q.rows, q.cols});
  std::vector<uint8_t> codes;
  const int64_t groups = q.groups();
  for (int64_t r = 0; r < q.rows; ++r) {
    unpack_row(q, r, codes);
    float* dst = out.ptr() + r * q.cols;
    for (int64_t c = 0; c < q.cols; ++c) {
      const int64_t g = q.g_idx.empty() ? c / q.group_size : q.g_idx[static_cast<size_t>(c)];
      const auto cell = static_cast<size_t>(r * groups + g);
      dst[c] = dequantize_value(codes[static_cast<size_t>(c)], GroupGrid{q.scales[cell], q.zeros[cell]});
    }
  }
  return out;
}

}  // namespace moqa::quant
