#pragma once
// The GPTQ Hessian of one linear layer: H = 2/n * sum over its n input rows x of x x^T.
//
// HessianSum keeps the raw sum and the sample count, not H itself, so that
//  - inputs can arrive in batches of any size (normalisation by the running count happens on read), and
//  - partial sums from several MPI ranks combine by plain element-wise addition of `sum` and `samples`
//    (e.g. MPI_Allreduce(MPI_SUM) on `sum` as MPI_DOUBLE, then on `samples`).
// Inputs are widened to double before the product, so every x_i * x_j is exact and only the additions
// round. The result is deterministic for a given sequence of accumulate() calls; a different split of
// the same rows into batches (or into ranks) changes it only by rounding of the additions.
#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.h"

namespace moqa::quant {

struct HessianSum {
  int64_t cols = 0;
  int64_t samples = 0;
  // [cols, cols] row-major; element (i, j) with i <= j holds sum x_i x_j. The strict lower triangle is
  // never written and stays zero, so element-wise sums of HessianSums are well defined.
  std::vector<double> sum;
};

// A normalised, full symmetric Hessian, what GPTQ and output_error consume.
struct Hessian {
  int64_t cols = 0;
  std::vector<double> values;  // [cols, cols] row-major, both triangles filled
};

HessianSum make_hessian_sum(int64_t cols);

// Adds `count` rows of length acc.cols stored row-major in `rows` (rows.size() == count * acc.cols).
void accumulate(HessianSum& acc, std::span<const float> rows, int64_t count);
// Adds the rows of x viewed as [size / dim(-1), dim(-1)]; dim(-1) must equal acc.cols.
void accumulate(HessianSum& acc, const Tensor& x);

// into += other (same cols).
void merge(HessianSum& into, const HessianSum& other);

// H = 2 / samples * sum, mirrored into both triangles. With no samples every entry is 0 (all columns
// dead, which GPTQ handles).
Hessian normalized_hessian(const HessianSum& acc);

}  // namespace moqa::quant
