#include "backend/backend.h"

#include <utility>

#include "backend/checks.h"

namespace moqa::backend {

SwigluResult swiglu(Backend& backend, const SwigluJob& job, bool keep_activated) {
  check_swiglu("backend", job);
  const Array gate = backend.linear(*job.x, *job.gate, job.gate_bias);
  const Array up = backend.linear(*job.x, *job.up, job.up_bias);
  Array activated = backend.silu_mul(gate, up);
  SwigluResult result;
  result.out = backend.linear(activated, *job.down, job.down_bias);
  if (keep_activated) result.activated = std::move(activated);
  return result;
}

std::vector<SwigluResult> Backend::routed_experts(std::span<const SwigluJob> jobs, bool keep_activated) {
  std::vector<SwigluResult> results;
  results.reserve(jobs.size());
  for (const SwigluJob& job : jobs) results.push_back(swiglu(*this, job, keep_activated));
  return results;
}

}  // namespace moqa::backend
