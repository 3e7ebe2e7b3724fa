#pragma once
// The layer-output error of an approximation Q of a weight W, measured through the Hessian instead of
// the calibration inputs: E = trace((W - Q) H (W - Q)^T). With H = 2/n * sum x x^T this is
// 2/n * ||(W - Q) X||_F^2 (X = the n inputs as columns), i.e. twice the mean squared output error per
// input row. The `budgeted` allocator compares candidate widths with it.
#include <string_view>

#include "core/tensor.h"
#include "quant/hessian.h"

namespace moqa::quant {

// weight, approximation: [rows, h.cols]. Accumulated in double.
double output_error(const Tensor& weight, const Tensor& approximation, const Hessian& h, std::string_view matrix);

}  // namespace moqa::quant
