#pragma once
// Shared by the CUDA parity tests (tests/backend/cuda_*_test.cpp). Every GPU test starts with
// MOQA_REQUIRE_CUDA_DEVICE(), which skips it with a visible "skipped: no CUDA device" where none is visible
// (CI, the development VM); on a GPU machine the same ctest runs them.
//
// Method: fresh random inputs per test (fixed seeds, so failures reproduce), the CUDA backend created with
// poison_outputs (every new array is NaN-filled before the operation writes it), the result compared with
// the CPU reference function on the same inputs by ||got - want||_2 / ||want||_2 (computed in double).
// NaN or inf anywhere in the result fails (the error becomes inf). Bounds per dtype, stated where used:
//   float32 element-wise, norms, rope, gathers, losses    1e-6  (differences are 1-2 ulp of expf at most)
//   float32 matrix products (cuBLAS vs OpenBLAS order)    1e-5
//   bfloat16 weights, inputs drawn on the bfloat16 grid   1e-5  (operands exact; only the summation order)
//   bfloat16 weights, arbitrary float32 inputs            1e-2  (both operands rounded to 8 significant bits)
//   float64 statistics and Hessian sums                   1e-12 (exact products; the order of additions)
#include <gtest/gtest.h>

#include "kernels/device_query.h"
#include "test_tensors.h"

#define MOQA_REQUIRE_CUDA_DEVICE()                                                    \
  do {                                                                                \
    if (::moqa::cuda::device_count() == 0) GTEST_SKIP() << "skipped: no CUDA device"; \
  } while (false)
