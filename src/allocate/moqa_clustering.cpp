// moqa: fuzzy c-means on the synthesized expert significance, clusters ranked by center onto the candidate
// widths, low-precision-first for experts in the overlap of two clusters, optional budget enforcement
// (PAPER.md §4.2; the open choices are documented in docs/ALLOCATION.md).
#include <algorithm>
#include <vector>

#include "allocate/budget.h"
#include "allocate/candidate_bits.h"
#include "allocate/fuzzy_cmeans.h"
#include "allocate/methods.h"
#include "core/error.h"

namespace moqa::allocate {
namespace {

// Cluster rank r of `clusters` (0 = lowest center) -> candidate width. Equal counts map one to one; other
// counts spread the ranks evenly over the candidate list, lowest to lowest and highest to highest. A
// single cluster (all significances equal) has no ranking, so it gets the uniform width the target allows.
int width_of_rank(int rank, int clusters, const std::vector<int>& candidates, double target_bits) {
  if (clusters == 1) return largest_candidate_at_most(candidates, target_bits);
  const int top = static_cast<int>(candidates.size()) - 1;
  const int index = (2 * rank * top + (clusters - 1)) / (2 * (clusters - 1));  // round(rank * top / (clusters-1))
  return candidates[static_cast<size_t>(index)];
}

// The two largest memberships of one expert; ties go to the lower rank.
struct TopTwo {
  int top = 0;
  int second = -1;
};

TopTwo top_two(const std::vector<double>& membership) {
  TopTwo result;
  for (int k = 1; k < static_cast<int>(membership.size()); ++k)
    if (membership[static_cast<size_t>(k)] > membership[static_cast<size_t>(result.top)]) result.top = k;
  for (int k = 0; k < static_cast<int>(membership.size()); ++k) {
    if (k == result.top) continue;
    if (result.second < 0 || membership[static_cast<size_t>(k)] > membership[static_cast<size_t>(result.second)])
      result.second = k;
  }
  return result;
}

// correlation_weight (allocation.h): one Jacobi step of co-activation smoothing on each layer's scores,
// from the unsmoothed scores of the layer (so the result does not depend on the experts' order).
void smooth_by_coactivation(const AllocationInput& input, double weight, std::vector<std::vector<double>>& score) {
  if (weight == 0.0) return;
  for (size_t l = 0; l < input.layers.size(); ++l) {
    const MoeLayerStats& layer = input.layers[l];
    const size_t n = layer.experts.size();
    MOQA_CHECK(layer.coactivation.size() == n * n, "allocation: correlation_weight is ", weight, " but MoE layer ",
               l, " has no co-activation matrix (was analysis.correlation off?)");
    const std::vector<double> before = score[l];
    for (size_t j = 0; j < n; ++j) {
      double pull = 0.0, mass = 0.0;
      for (size_t i = 0; i < n; ++i) {
        if (i == j) continue;
        const double phi = std::max(layer.coactivation[i * n + j], 0.0);
        pull += phi * before[i];
        mass += phi;
      }
      if (mass > 0.0) score[l][j] = (1.0 - weight) * before[j] + weight * pull / mass;
    }
  }
}

}  // namespace

void allocate_moqa(const AllocationInput& input, const AllocationOptions& options, Allocation& result) {
  const std::vector<int>& candidates = options.candidate_bits;
  smooth_by_coactivation(input, options.correlation_weight, result.score);
  const std::vector<BudgetDomain> domains = budget_domains(input, options);
  for (const MoeLayerStats& layer : input.layers) {
    result.membership.emplace_back(layer.experts.size());
    result.cluster.emplace_back(layer.experts.size(), 0);
    result.cluster_run.emplace_back(layer.experts.size(), 0);
  }

  // The clustering groups are the budget domains: one layer's experts (Eq. 1 normalises per layer), or all.
  for (const BudgetDomain& domain : domains) {
    std::vector<double> values;
    for (const ExpertRef& ref : domain.experts)
      values.push_back(result.score[static_cast<size_t>(ref.layer)][static_cast<size_t>(ref.expert)]);
    const FuzzyCMeansResult fcm = fuzzy_cmeans(values, options.fcm);

    const int run_index = static_cast<int>(result.clusterings.size());
    ClusterRun& run = result.clusterings.emplace_back();
    for (const ExpertRef& ref : domain.experts)
      if (run.layers.empty() || run.layers.back() != ref.layer) run.layers.push_back(ref.layer);
    run.centers = fcm.centers;
    for (int rank = 0; rank < fcm.clusters; ++rank)
      run.center_bits.push_back(width_of_rank(rank, fcm.clusters, candidates, result.expert_target_bits));
    run.requested_clusters = options.fcm.clusters;
    run.iterations = fcm.iterations;
    run.converged = fcm.converged;
    run.objective = fcm.objective;

    for (size_t i = 0; i < domain.experts.size(); ++i) {
      const ExpertRef& ref = domain.experts[i];
      const size_t l = static_cast<size_t>(ref.layer);
      const size_t e = static_cast<size_t>(ref.expert);
      std::vector<double>& membership = result.membership[l][e];
      for (int k = 0; k < fcm.clusters; ++k) membership.push_back(fcm.u(i, static_cast<size_t>(k)));

      const TopTwo best = top_two(membership);
      int assigned = best.top;
      if (best.second >= 0) {
        const double margin =
            membership[static_cast<size_t>(best.top)] - membership[static_cast<size_t>(best.second)];
        if (margin < options.overlap_margin) {
          // Low-precision-first: a boundary expert matters little, so it takes the cheaper of the two.
          assigned = std::min(best.top, best.second);
          result.overlaps.push_back({ref.layer, ref.expert, best.top, best.second, margin, assigned});
        }
      }
      result.cluster[l][e] = assigned;
      result.cluster_run[l][e] = run_index;
      result.bits[l][e] = run.center_bits[static_cast<size_t>(assigned)];
    }
  }

  if (!options.enforce_budget) return;
  for (const BudgetDomain& domain : domains) {
    const std::vector<BitChange> steps = demote_to_budget(domain, input, candidates, result.score, result.bits);
    result.budget_demotions.insert(result.budget_demotions.end(), steps.begin(), steps.end());
  }
}

}  // namespace moqa::allocate
