#pragma once
// The in-memory form of a quantized weight matrix and its dequantization. The exact conventions (grid,
// zero point, group index, bit order) are specified in docs/FORMATS.md, "Quantized tensors"; the CUDA
// dequant-matmul kernel and the checkpoint writer follow that text, so change both together.
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/tensor.h"
#include "quant/scale_dtype.h"

namespace moqa::quant {

// What the user asks for. group_size <= 0 (conventionally 0 or -1) means one group per row
// ("per-channel"); otherwise it must divide the number of input columns.
struct QuantSpec {
  int bits = 4;                // one of 2, 3, 4, 6, 8
  int64_t group_size = 128;    // input columns sharing one (scale, zero)
  bool symmetric = false;      // symmetric: zero fixed at 2^(bits-1); asymmetric: zero fitted per group
  // How scales are stored; f16 rounds each fitted scale before its codes are computed (scale_dtype.h). The
  // library default is f32 (exactly the float arithmetic of the reference quantizers, e.g. the GPTQ
  // goldens); the pipeline's default is quantization.scale_dtype = "f16".
  ScaleDtype scale_dtype = ScaleDtype::f32;
};

// A weight matrix W [rows = out_features, cols = in_features], quantized group-wise along the input
// dimension. Element (r, c) dequantizes to
//     w = scales[r * groups + g] * float(int(code(r, c)) - int(zeros[r * groups + g]))
// with g = g_idx.empty() ? c / group_size : g_idx[c], and code(r, c) in [0, 2^bits - 1].
struct QuantizedMatrix {
  int64_t rows = 0;
  int64_t cols = 0;
  int bits = 0;
  int64_t group_size = 0;          // effective: cols for per-channel quantization
  bool symmetric = false;          // provenance only; dequantization does not depend on it
  ScaleDtype scale_dtype = ScaleDtype::f32;  // f16: every scale is a half-precision value (stored as F16)
  std::vector<float> scales;       // [rows, groups], row-major
  std::vector<uint8_t> zeros;      // [rows, groups], each in [0, 2^bits - 1]
  std::vector<int32_t> g_idx;      // empty (groups are consecutive columns) or [cols]: group of each column
  std::vector<uint32_t> packed;    // [rows, words_per_row()]: each row's codes, bit order in bit_packing.h

  int64_t groups() const { return group_size > 0 ? cols / group_size : 0; }
  int64_t words_per_row() const;
};

// A matrix with the shape and format fields a quantizer fills in for `spec` (no scales, zeros or codes yet):
// the one place every quantizer (RTN, GPTQ on CPU and CUDA) takes them from. group_size is the effective one.
QuantizedMatrix quantized_matrix_header(int64_t rows, int64_t cols, int64_t group_size, const QuantSpec& spec);

// Widths the quantizers and the file format support.
bool is_supported_bits(int bits);
// Throws moqa::Error naming `matrix` unless spec is valid for a matrix with `cols` input columns.
// Returns the effective group size (cols for per-channel).
int64_t effective_group_size(const QuantSpec& spec, int64_t cols, std::string_view matrix);

// Bits a quantized matrix stores besides its codes (docs/FORMATS.md, "Quantized checkpoint"): per group of
// each row one scale (16 or 32 bits) and one U8 zero point (8 bits, symmetric too: the file stores it), and
// with a g_idx 32 bits per input column. group_size <= 0 or >= cols: one group per row. Not counted: the
// 28-byte qparams record per matrix and the padding of a row's codes to whole 32-bit words (none when
// cols x bits is a multiple of 32, as for every model shape moqa quantizes).
int64_t overhead_bits(int64_t rows, int64_t cols, int64_t group_size, ScaleDtype scale_dtype, bool has_g_idx);
int64_t overhead_bits(const QuantizedMatrix& q);

// Structural check of a QuantizedMatrix that may come from a file: array sizes, zero and g_idx ranges,
// finite scales. Throws moqa::Error naming `matrix`, the field, the index and the value found.
void validate(const QuantizedMatrix& q, std::string_view matrix);

// Throws moqa::Error naming `matrix` unless `weight` is a 2-D tensor of finite values.
void check_weight_matrix(const Tensor& weight, std::string_view matrix);

// Packs row-major codes [q.rows, q.cols] (original column order) into q.packed, one row after another,
// each row starting on a fresh word.
void set_codes(QuantizedMatrix& q, std::span<const uint8_t> codes);

// Codes of one row, unpacked into `codes` (size q.cols).
void unpack_row(const QuantizedMatrix& q, int64_t row, std::vector<uint8_t>& codes);

// The float32 matrix [rows, cols] the codes stand for (validates first).
Tensor dequantize(const QuantizedMatrix& q, std::string_view matrix = "quantized matrix");

}  // namespace moqa::quant
