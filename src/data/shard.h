#pragma once
// Contiguous, balanced split of `count` items over `world` ranks: the first count % world ranks get one
// item more. Together the ranges cover [0, count) exactly once, in rank order.
#include <cstdint>

namespace moqa::data {

struct ShardRange {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
};

ShardRange shard_range(int64_t count, int rank, int world);

}  // namespace moqa::data
