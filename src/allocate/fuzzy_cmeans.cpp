#include "allocate/fuzzy_cmeans.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "allocate/splitmix64.h"
#include "core/error.h"

namespace moqa::allocate {
namespace {

// Two values closer than this are the same value, and a point this close to a center sits on it.
// Relative to the data's magnitude because significances are O(1/experts), far from O(1).
double equality_tolerance(std::span<const double> values) {
  double largest = 0.0;
  for (double v : values) largest = std::max(largest, std::abs(v));
  return 1e-12 * largest;
}

struct Run {
  std::vector<double> centers;
  std::vector<double> membership;  // [point][cluster]
  int iterations = 0;
  bool converged = false;
  double objective = 0.0;
};

void update_centers(std::span<const double> values, const std::vector<double>& membership, size_t clusters,
                    double fuzzifier, std::vector<double>& centers) {
  for (size_t k = 0; k < clusters; ++k) {
    double weighted_sum = 0.0;
    double weight_total = 0.0;
    for (size_t i = 0; i < values.size(); ++i) {
      const double w = std::pow(membership[i * clusters + k], fuzzifier);
      weighted_sum += w * values[i];
      weight_total += w;
    }
    // A cluster nobody belongs to keeps its place instead of becoming 0/0.
    if (weight_total > 0.0) centers[k] = weighted_sum / weight_total;
  }
}

void update_memberships(std::span<const double> values, const std::vector<double>& centers, double exponent,
                        double tolerance, std::vector<double>& membership) {
  const size_t clusters = centers.size();
  for (size_t i = 0; i < values.size(); ++i) {
    double* row = &membership[i * clusters];
    size_t on_center = 0;
    for (size_t k = 0; k < clusters; ++k)
      if (std::abs(values[i] - centers[k]) <= tolerance) ++on_center;
    if (on_center > 0) {
      // The textbook formula is 0/0 here; the limit is all membership on the coinciding center(s).
      for (size_t k = 0; k < clusters; ++k)
        row[k] = std::abs(values[i] - centers[k]) <= tolerance ? 1.0 / static_cast<double>(on_center) : 0.0;
      continue;
    }
    // u_ik = (d_min / d_ik)^p / sum_j (d_min / d_ij)^p: the textbook ratio form rewritten with one power per
    // cluster, scaled by the nearest distance so no term overflows (the nearest one is exactly 1).
    double nearest = std::abs(values[i] - centers[0]);
    for (size_t k = 1; k < clusters; ++k) nearest = std::min(nearest, std::abs(values[i] - centers[k]));
    double sum = 0.0;
    for (size_t k = 0; k < clusters; ++k)
      sum += row[k] = std::pow(nearest / std::abs(values[i] - centers[k]), exponent);
    for (size_t k = 0; k < clusters; ++k) row[k] /= sum;
  }
}

double objective_of(std::span<const double> values, const Run& run, double fuzzifier) {
  const size_t clusters = run.centers.size();
  double total = 0.0;
  for (size_t i = 0; i < values.size(); ++i)
    for (size_t k = 0; k < clusters; ++k) {
      const double d = values[i] - run.centers[k];
      total += std::pow(run.membership[i * clusters + k], fuzzifier) * d * d;
    }
  return total;
}

Run run_once(std::span<const double> values, size_t clusters, const FuzzyCMeansOptions& options, double tolerance,
             SplitMix64& rng) {
  Run run;
  run.centers.assign(clusters, 0.0);
  run.membership.resize(values.size() * clusters);
  for (size_t i = 0; i < values.size(); ++i) {
    double* row = &run.membership[i * clusters];
    double total = 0.0;
    for (size_t k = 0; k < clusters; ++k) total += row[k] = rng.next_unit();
    for (size_t k = 0; k < clusters; ++k) row[k] /= total;
  }
  const double exponent = 2.0 / (options.fuzzifier - 1.0);
  std::vector<double> next(run.membership.size());
  while (run.iterations < options.max_iterations) {
    update_centers(values, run.membership, clusters, options.fuzzifier, run.centers);
    update_memberships(values, run.centers, exponent, tolerance, next);
    double change = 0.0;
    for (size_t i = 0; i < next.size(); ++i) change = std::max(change, std::abs(next[i] - run.membership[i]));
    run.membership.swap(next);
    ++run.iterations;
    if (change < options.tolerance) {
      run.converged = true;
      break;
    }
  }
  run.objective = objective_of(values, run, options.fuzzifier);
  return run;
}

}  // namespace

int count_distinct(std::span<const double> values) {
  std::vector<double> sorted(values.begin(), values.end());
  std::sort(sorted.begin(), sorted.end());
  const double tolerance = equality_tolerance(values);
  int distinct = sorted.empty() ? 0 : 1;
  for (size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i] - sorted[i - 1] > tolerance) ++distinct;
  return distinct;
}

void validate(const FuzzyCMeansOptions& options) {
  MOQA_CHECK(options.clusters >= 1, "allocation.fcm: clusters = ", options.clusters, ", expected >= 1");
  MOQA_CHECK(options.fuzzifier > 1.0 && std::isfinite(options.fuzzifier), "allocation.fcm: fuzzifier m = ",
             options.fuzzifier, ", expected a finite number > 1");
  MOQA_CHECK(options.tolerance > 0.0, "allocation.fcm: tolerance = ", options.tolerance, ", expected > 0");
  MOQA_CHECK(options.max_iterations >= 1, "allocation.fcm: max_iterations = ", options.max_iterations,
             ", expected >= 1");
  MOQA_CHECK(options.restarts >= 1, "allocation.fcm: restarts = ", options.restarts, ", expected >= 1");
}

FuzzyCMeansResult fuzzy_cmeans(std::span<const double> values, const FuzzyCMeansOptions& options) {
  MOQA_CHECK(!values.empty(), "fuzzy c-means: no values to cluster");
  for (size_t i = 0; i < values.size(); ++i)
    MOQA_CHECK(std::isfinite(values[i]), "fuzzy c-means: value ", i, " is ", values[i], ", expected a finite number");
  validate(options);

  FuzzyCMeansResult result;
  result.clusters = std::min(options.clusters, count_distinct(values));
  const size_t clusters = static_cast<size_t>(result.clusters);
  if (clusters == 1) {
    // All values equal: one center at their mean, nothing to iterate.
    const double mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
    result.centers = {mean};
    result.membership.assign(values.size(), 1.0);
    result.converged = true;
    for (double v : values) result.objective += (v - mean) * (v - mean);
    return result;
  }

  const double tolerance = equality_tolerance(values);
  SplitMix64 rng{options.seed};
  Run best;
  for (int restart = 0; restart < options.restarts; ++restart) {
    Run run = run_once(values, clusters, options, tolerance, rng);
    if (restart == 0 || run.objective < best.objective) best = std::move(run);
  }

  // Rank clusters by center so that rank 0 is the least significant; ties keep the run's order.
  std::vector<size_t> order(clusters);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return best.centers[a] < best.centers[b]; });
  result.centers.resize(clusters);
  result.membership.resize(best.membership.size());
  for (size_t rank = 0; rank < clusters; ++rank) {
    result.centers[rank] = best.centers[order[rank]];
    for (size_t i = 0; i < values.size(); ++i)
      result.membership[i * clusters + rank] = best.membership[i * clusters + order[rank]];
  }
  result.iterations = best.iterations;
  result.converged = best.converged;
  result.objective = best.objective;
  return result;
}

}  // namespace moqa::allocate
