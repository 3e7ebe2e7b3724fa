#include "quant/output_error.h"

#include <cblas.h>

#include <algorithm>

#include "core/error.h"

namespace moqa::quant {
namespace {

// Rows of W - Q per dsymm call: bounds the two double temporaries to 2 * kChunkRows * cols values.
constexpr int64_t kChunkRows = 128;

}  // namespace

double output_error(const Tensor& weight, const Tensor& approximation, const Hessian& h, std::string_view matrix) {
  MOQA_CHECK(weight.rank() == 2 && approximation.shape == weight.shape, matrix, ": output error of weight ",
             to_string(weight.shape), " against approximation ", to_string(approximation.shape),
             " (expected two equal 2-D shapes)");
  const int64_t rows = weight.dim(0);
  const int64_t cols = weight.dim(1);
  MOQA_CHECK(h.cols == cols && static_cast<int64_t>(h.values.size()) == cols * cols, matrix, ": Hessian is ",
             h.cols, "x", h.cols, " but the weight has ", cols, " input columns");
  std::vector<double> diff(static_cast<size_t>(std::min(rows, kChunkRows) * cols));
  std::vector<double> product(diff.size());
  double total = 0.0;
  for (int64_t first = 0; first < rows; first += kChunkRows) {
    const int64_t n = std::min(kChunkRows, rows - first);
    for (int64_t i = 0; i < n * cols; ++i) {
      const auto at = static_cast<size_t>(first * cols + i);
      diff[static_cast<size_t>(i)] = static_cast<double>(weight.data[at]) - static_cast<double>(approximation.data[at]);
    }
    // product = diff * H, then sum of diff .* product = sum over rows of d H d^T.
    cblas_dsymm(CblasRowMajor, CblasRight, CblasUpper, static_cast<int>(n), static_cast<int>(cols), 1.0,
                h.values.data(), static_cast<int>(cols), diff.data(), static_cast<int>(cols), 0.0, product.data(),
                static_cast<int>(cols));
    for (int64_t i = 0; i < n * cols; ++i) total += diff[static_cast<size_t>(i)] * product[static_cast<size_t>(i)];
  }
  return total;
}

}  // namespace moqa::quant
