#pragma once
// /allocation in results.h5 (docs/FORMATS.md, "/allocation"): the allocation, its input summary, the
// method's diagnostics, the measured error table of `budgeted` and the channel-adjustment plan. Rank 0.
#include <cstdint>
#include <vector>

#include "allocate/allocation.h"
#include "io/hdf5_file.h"
#include "pipeline/allocate/error_profile.h"
#include "pipeline/channel_adjustment.h"

namespace moqa::pipeline {

struct AllocationRecord {
  const allocate::Allocation& allocation;
  const allocate::AllocationInput& input;
  const std::vector<int64_t>& moe_layers;  // model layer of each allocation row
  std::vector<int> candidate_bits;
  int non_expert_bits = 0;
  const ErrorProfile* errors = nullptr;             // budgeted only
  const ChannelAdjustmentPlan* channels = nullptr;  // channel adjustment only
};

void write_allocation(io::H5Writer& file, const AllocationRecord& record);

}  // namespace moqa::pipeline
