// How many math threads a rank uses when runtime.threads is automatic, and the warning when the configured
// count exceeds the cores the rank may run on (mpirun binds each rank to one core by default).
#include <gtest/gtest.h>

#include "pipeline/rank_model.h"

namespace moqa::pipeline {
namespace {

TEST(MathThreads, AutomaticSharesTheNodeAndStaysWithinTheRanksCores) {
  EXPECT_EQ(automatic_threads(16, 16, 1), 16);  // one unbound rank: every core
  EXPECT_EQ(automatic_threads(16, 16, 4), 4);   // four unbound ranks share the node
  EXPECT_EQ(automatic_threads(16, 1, 4), 1);    // bound to one core each (mpirun's default)
  EXPECT_EQ(automatic_threads(2, 1, 1), 1);     // `mpirun -np 1` on 2 cores binds the rank to one
  EXPECT_EQ(automatic_threads(2, 2, 4), 1);     // more ranks than cores: still one thread
  EXPECT_GE(usable_cores(), 1);
}

TEST(MathThreads, MoreThreadsThanTheRanksCoresAreNamedWithTheRemedy) {
  EXPECT_EQ(thread_binding_warning(0, 1), "");  // automatic never exceeds
  EXPECT_EQ(thread_binding_warning(2, 2), "");
  const std::string warning = thread_binding_warning(2, 1);
  EXPECT_NE(warning.find("runtime.threads = 2"), std::string::npos) << warning;
  EXPECT_NE(warning.find("only run on 1 core"), std::string::npos) << warning;
  EXPECT_NE(warning.find("--bind-to none"), std::string::npos) << warning;
  EXPECT_NE(warning.find("--map-by slot:PE=2"), std::string::npos) << warning;
}

}  // namespace
}  // namespace moqa::pipeline
