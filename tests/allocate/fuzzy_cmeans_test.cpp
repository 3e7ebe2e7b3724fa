#include "allocate/fuzzy_cmeans.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "allocate/splitmix64.h"
#include "core/error.h"

namespace moqa::allocate {
namespace {

// Four well separated groups, interleaved so that input order carries no hint.
std::vector<double> four_groups(std::vector<int>* truth) {
  const double centers[] = {0.01, 0.05, 0.10, 0.20};
  SplitMix64 rng{7};
  std::vector<double> values;
  for (int i = 0; i < 40; ++i) {
    const int group = (i * 3) % 4;
    values.push_back(centers[group] + 0.004 * (rng.next_unit() - 0.5));
    if (truth) truth->push_back(group);
  }
  return values;
}

int argmax_row(const FuzzyCMeansResult& result, size_t point) {
  int best = 0;
  for (int k = 1; k < result.clusters; ++k)
    if (result.u(point, static_cast<size_t>(k)) > result.u(point, static_cast<size_t>(best))) best = k;
  return best;
}

TEST(AllocateFuzzyCMeans, RecoversSeparableClusters) {
  std::vector<int> truth;
  const std::vector<double> values = four_groups(&truth);
  const FuzzyCMeansResult result = fuzzy_cmeans(values, FuzzyCMeansOptions{});
  ASSERT_EQ(result.clusters, 4);
  EXPECT_TRUE(result.converged);
  const double expected[] = {0.01, 0.05, 0.10, 0.20};
  for (int k = 0; k < 4; ++k) EXPECT_NEAR(result.centers[static_cast<size_t>(k)], expected[k], 0.003) << k;
  for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(argmax_row(result, i), truth[i]) << "point " << i;
}

TEST(AllocateFuzzyCMeans, MembershipsAreADistributionPerPoint) {
  SplitMix64 rng{123};
  std::vector<double> values;
  for (int i = 0; i < 64; ++i) values.push_back(rng.next_unit() / 64.0);
  for (int clusters : {2, 3, 4, 6}) {
    FuzzyCMeansOptions options;
    options.clusters = clusters;
    const FuzzyCMeansResult result = fuzzy_cmeans(values, options);
    ASSERT_EQ(result.clusters, clusters);
    for (size_t i = 0; i < values.size(); ++i) {
      double sum = 0.0;
      for (int k = 0; k < clusters; ++k) {
        const double u = result.u(i, static_cast<size_t>(k));
        ASSERT_TRUE(std::isfinite(u));
        EXPECT_GE(u, 0.0);
        EXPECT_LE(u, 1.0);
        sum += u;
      }
      EXPECT_NEAR(sum, 1.0, 1e-12);
    }
    for (int k = 1; k < clusters; ++k)
      EXPECT_LE(result.centers[static_cast<size_t>(k - 1)], result.centers[static_cast<size_t>(k)]);
  }
}

// (No test that a seed gives the same result twice: fuzzy_cmeans is a pure single-threaded function.)
TEST(AllocateFuzzyCMeans, StableAcrossSeeds) {
  const std::vector<double> values = four_groups(nullptr);
  const FuzzyCMeansResult a = fuzzy_cmeans(values, FuzzyCMeansOptions{});
  FuzzyCMeansOptions other;
  other.seed = 99;
  const FuzzyCMeansResult c = fuzzy_cmeans(values, other);
  for (size_t k = 0; k < a.centers.size(); ++k) EXPECT_NEAR(a.centers[k], c.centers[k], 1e-6);
}

TEST(AllocateFuzzyCMeans, AllEqualValuesGiveOneCluster) {
  const std::vector<double> values(10, 0.125);
  const FuzzyCMeansResult result = fuzzy_cmeans(values, FuzzyCMeansOptions{});
  ASSERT_EQ(result.clusters, 1);
  EXPECT_DOUBLE_EQ(result.centers[0], 0.125);
  for (double u : result.membership) EXPECT_EQ(u, 1.0);
  EXPECT_TRUE(result.converged);
}

TEST(AllocateFuzzyCMeans, AllZeroValuesGiveOneCluster) {
  const std::vector<double> values(5, 0.0);
  const FuzzyCMeansResult result = fuzzy_cmeans(values, FuzzyCMeansOptions{});
  ASSERT_EQ(result.clusters, 1);
  EXPECT_EQ(result.centers[0], 0.0);
}

TEST(AllocateFuzzyCMeans, TwoDistinctValuesSitOnTheirCenters) {
  const std::vector<double> values{0.3, 0.1, 0.3, 0.1, 0.1};
  const FuzzyCMeansResult result = fuzzy_cmeans(values, FuzzyCMeansOptions{});
  ASSERT_EQ(result.clusters, 2);
  EXPECT_DOUBLE_EQ(result.centers[0], 0.1);
  EXPECT_DOUBLE_EQ(result.centers[1], 0.3);
  for (size_t i = 0; i < values.size(); ++i) {
    const size_t own = values[i] < 0.2 ? 0 : 1;
    EXPECT_EQ(result.u(i, own), 1.0) << i;
    EXPECT_EQ(result.u(i, 1 - own), 0.0) << i;
  }
}

TEST(AllocateFuzzyCMeans, PointsOnCentersHaveFullMembershipAndNoNaN) {
  // As many distinct values as clusters: every center converges onto a value, where the textbook
  // membership formula would divide zero by zero.
  const std::vector<double> values{0.1, 0.2, 0.2, 0.4};
  FuzzyCMeansOptions options;
  options.clusters = 3;
  const FuzzyCMeansResult result = fuzzy_cmeans(values, options);
  ASSERT_EQ(result.clusters, 3);
  EXPECT_TRUE(result.converged);
  const size_t own[] = {0, 1, 1, 2};
  for (size_t i = 0; i < values.size(); ++i)
    for (size_t k = 0; k < 3; ++k) {
      ASSERT_FALSE(std::isnan(result.u(i, k)));
      EXPECT_EQ(result.u(i, k), k == own[i] ? 1.0 : 0.0) << i << "," << k;
    }
  EXPECT_NEAR(result.centers[1], 0.2, 1e-12);
}

TEST(AllocateFuzzyCMeans, FewerPointsThanClusters) {
  const std::vector<double> values{0.7, 0.2};
  const FuzzyCMeansResult result = fuzzy_cmeans(values, FuzzyCMeansOptions{});
  EXPECT_EQ(result.clusters, 2);
  EXPECT_EQ(result.membership.size(), 4u);
}

TEST(AllocateFuzzyCMeans, CountDistinctUsesRelativeTolerance) {
  EXPECT_EQ(count_distinct(std::vector<double>{1.0, 1.0 + 1e-15, 2.0}), 2);
  EXPECT_EQ(count_distinct(std::vector<double>{1e-3, 2e-3, 3e-3}), 3);
  EXPECT_EQ(count_distinct(std::vector<double>{}), 0);
}

TEST(AllocateFuzzyCMeans, RejectsBadOptionsAndValues) {
  const std::vector<double> values{0.1, 0.2};
  FuzzyCMeansOptions options;
  options.fuzzifier = 1.0;
  EXPECT_THROW(fuzzy_cmeans(values, options), Error);
  options = {};
  options.clusters = 0;
  EXPECT_THROW(fuzzy_cmeans(values, options), Error);
  EXPECT_THROW(fuzzy_cmeans(std::vector<double>{}, FuzzyCMeansOptions{}), Error);
  EXPECT_THROW(fuzzy_cmeans(std::vector<double>{0.1, NAN}, FuzzyCMeansOptions{}), Error);
}

TEST(AllocateSplitMix64, MatchesReferenceSequence) {
  // Reference values of SplitMix64 seeded with 0 (from the published algorithm).
  SplitMix64 rng{0};
  EXPECT_EQ(rng.next(), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(rng.next(), 0x6e789e6aa1b965f4ULL);
  EXPECT_EQ(rng.next(), 0x06c45d188009454fULL);
}

}  // namespace
}  // namespace moqa::allocate
