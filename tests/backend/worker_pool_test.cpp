#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "backend/cpu/worker_pool.h"

namespace moqa::backend::cpu {
namespace {

TEST(WorkerPool, CoversEveryIndexOnceForAnyThreadCount) {
  for (const int threads : {1, 2, 3}) {
    WorkerPool pool(threads);
    EXPECT_EQ(pool.threads(), threads);
    for (const int64_t count : {0, 1, 7, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(count));
      pool.parallel_for(count, 3, [&](int64_t first, int64_t last) {
        for (int64_t i = first; i < last; ++i) ++hits[static_cast<size_t>(i)];
      });
      for (const auto& h : hits) ASSERT_EQ(h.load(), 1);
    }
  }
}

TEST(WorkerPool, RethrowsTheFirstErrorAndStaysUsable) {
  WorkerPool pool(2);
  EXPECT_THROW(pool.parallel_for(100, 1,
                                 [](int64_t first, int64_t) {
                                   if (first >= 50) throw std::runtime_error("chunk failed");
                                 }),
               std::runtime_error);
  std::atomic<int64_t> sum = 0;
  pool.parallel_for(100, 1, [&](int64_t first, int64_t last) {
    for (int64_t i = first; i < last; ++i) sum += i;
  });
  EXPECT_EQ(sum.load(), 4950);
}

}  // namespace
}  // namespace moqa::backend::cpu
