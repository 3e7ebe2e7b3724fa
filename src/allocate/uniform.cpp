// uniform: one width for every routed expert (the GPTQ-style baseline).
#include "allocate/candidate_bits.h"
#include "allocate/methods.h"

namespace moqa::allocate {

void allocate_uniform(const AllocationInput&, const AllocationOptions& options, Allocation& result) {
  // An explicit width need not be a candidate: "uniform 3 bits" is a baseline even when the mixed
  // methods choose from {2, 4, 6, 8}.
  const int bits = options.uniform_bits != 0
                       ? options.uniform_bits
                       : largest_candidate_at_most(options.candidate_bits, result.expert_target_bits);
  for (auto& layer : result.bits)
    for (int& expert_bits : layer) expert_bits = bits;
}

}  // namespace moqa::allocate
