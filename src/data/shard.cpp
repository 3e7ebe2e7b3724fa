#include "data/shard.h"

#include <algorithm>

#include "core/error.h"

namespace moqa::data {

ShardRange shard_range(int64_t count, int rank, int world) {
  MOQA_CHECK(world >= 1, "world size must be >= 1, got ", world);
  MOQA_CHECK(rank >= 0 && rank < world, "rank ", rank, " is outside [0, ", world, ")");
  MOQA_CHECK(count >= 0, "item count must be >= 0, got ", count);
  const int64_t base = count / world;
  const int64_t extra = count % world;
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

}  // namespace moqa::data
