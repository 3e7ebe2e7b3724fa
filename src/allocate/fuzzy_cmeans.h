#pragma once
// Fuzzy c-means on scalar data (PAPER.md §4.2, Algorithm 1): alternate
//   v_k  = sum_i u_ik^m x_i / sum_i u_ik^m
//   u_ik = 1 / sum_j (|x_i - v_k| / |x_i - v_j|)^(2/(m-1))
// from seeded random memberships until max |U_new - U_old| < tolerance.
#include <cstdint>
#include <span>
#include <vector>

#include "allocate/allocation.h"

namespace moqa::allocate {

struct FuzzyCMeansResult {
  int clusters = 0;                 // effective count: min(requested, distinct values)
  std::vector<double> centers;      // ascending; cluster rank k = position here
  std::vector<double> membership;   // [point][cluster] row-major, rows sum to 1
  int iterations = 0;               // of the kept restart
  bool converged = false;
  double objective = 0.0;           // sum u^m (x - v)^2

  double u(size_t point, size_t cluster) const { return membership[point * static_cast<size_t>(clusters) + cluster]; }
};

// Number of distinct values, treating values closer than 1e-12 of the largest magnitude as equal.
int count_distinct(std::span<const double> values);

// Throws moqa::Error naming the offending option.
void validate(const FuzzyCMeansOptions& options);

// Deterministic for given values and options. Degenerate inputs are well defined: with fewer distinct
// values than clusters the count drops to the distinct count (one value -> one cluster, membership 1);
// a point that coincides with a center gets membership 1 there (shared equally if centers coincide).
FuzzyCMeansResult fuzzy_cmeans(std::span<const double> values, const FuzzyCMeansOptions& options);

}  // namespace moqa::allocate
