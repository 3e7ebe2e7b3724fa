#include "quant/hessian.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace moqa::quant {
namespace {

// Rows widened to double per call to dsyrk: bounds the temporary to kChunkRows * cols doubles while
// keeping the rank-k update large enough for BLAS to run near peak.
constexpr int64_t kChunkRows = 512;

}  // namespace

HessianSum make_hessian_sum(int64_t cols) {
  MOQA_CHECK(cols > 0, "Hessian accumulator: column count must be positive, got ", cols);
  HessianSum acc;
  acc.cols = cols;
  acc.sum.assign(static_cast<size_t>(cols * cols), 0.0);
  return acc;
}

void accumulate(HessianSum& acc, std::span<const float> rows, int64_t count) {
  const int64_t cols = acc.cols;
  MOQA_CHECK(cols > 0 && static_cast<int64_t>(acc.sum.size()) == cols * cols,
             "Hessian accumulator: not initialised (use make_hessian_sum)");
  MOQA_CHECK(count >= 0 && static_cast<int64_t>(rows.size()) == count * cols, "Hessian accumulator: ",
             rows.size(), " values do not form ", count, " rows of ", cols, " columns");
  std::vector<double> chunk(static_cast<size_t>(std::min(count, kChunkRows) * cols));
  for (int64_t first = 0; first < count; first += kChunkRows) {
    const int64_t n = std::min(kChunkRows, count - first);
    const float* src = rows.data() + first * cols;
    for (int64_t i = 0; i < n * cols; ++i) {
      MOQA_CHECK(std::isfinite(src[i]), "Hessian accumulator: input row ", acc.samples + first + i / cols,
                 ", column ", i % cols, " is ", src[i], ", expected a finite value");
      chunk[static_cast<size_t>(i)] = src[i];
    }
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<int>(cols), static_cast<int>(n), 1.0,
                chunk.data(), static_cast<int>(cols), 1.0, acc.sum.data(), static_cast<int>(cols));
  }
  acc.samples += count;
}

void accumulate(HessianSum& acc, const Tensor& x) {
  MOQA_CHECK(x.rank() >= 1 && x.dim(-1) == acc.cols, "Hessian accumulator: input of shape ", to_string(x.shape),
             " does not end in the ", acc.cols, " input columns of the layer");
  accumulate(acc, std::span<const float>(x.data), x.size() / acc.cols);
}

void merge(HessianSum& into, const HessianSum& other) {
  MOQA_CHECK(into.cols == other.cols && into.sum.size() == other.sum.size(), "Hessian merge: ", into.cols,
             " columns vs ", other.cols, " columns");
  for (size_t i = 0; i < into.sum.size(); ++i) into.sum[i] += other.sum[i];
  into.samples += other.samples;
}

Hessian normalized_hessian(const HessianSum& acc) {
  const int64_t cols = acc.cols;
  MOQA_CHECK(cols > 0 && static_cast<int64_t>(acc.sum.size()) == cols * cols,
             "Hessian accumulator: not initialised (use make_hessian_sum)");
  Hessian h;
  h.cols = cols;
  h.values.assign(static_cast<size_t>(cols * cols), 0.0);
  if (acc.samples == 0) return h;
  const double factor = 2.0 / static_cast<double>(acc.samples);
  for (int64_t i = 0; i < cols; ++i) {
    for (int64_t j = i; j < cols; ++j) {
      const double v = factor * acc.sum[static_cast<size_t>(i * cols + j)];
      h.values[static_cast<size_t>(i * cols + j)] = v;
      h.values[static_cast<size_t>(j * cols + i)] = v;
    }
  }
  return h;
}

}  // namespace moqa::quant
