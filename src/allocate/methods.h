#pragma once
// The allocation methods behind allocate(); each file <method>.cpp implements one. They receive
// validated input and options, and an Allocation already shaped by start_allocation().
#include "allocate/allocation.h"

namespace moqa::allocate {

// bits sized [layer][expert] (zeros), score filled, targets set. Shared by every method.
Allocation start_allocation(const AllocationInput& input, const AllocationOptions& options);

void allocate_uniform(const AllocationInput& input, const AllocationOptions& options, Allocation& result);
void allocate_moqa(const AllocationInput& input, const AllocationOptions& options, Allocation& result);
void allocate_moqa_v1(const AllocationInput& input, const AllocationOptions& options, Allocation& result);
void allocate_frequency(const AllocationInput& input, const AllocationOptions& options, Allocation& result);
void allocate_budgeted(const AllocationInput& input, const AllocationOptions& options, Allocation& result);
void allocate_moeptq(const AllocationInput& input, const AllocationOptions& options, Allocation& result);

}  // namespace moqa::allocate
