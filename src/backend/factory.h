#pragma once
// Chooses the backend for a run (runtime.device / runtime.threads in the experiment TOML).
#include <memory>
#include <string>

#include "backend/backend.h"

namespace moqa::backend {

struct BackendOptions {
  std::string device = "cpu";  // "cpu", "cuda" or "auto" (CUDA when a device is visible, else CPU)
  int threads = 0;             // CPU math threads; 0 = library default
  int local_rank = 0;          // this process's rank on its node: CUDA uses device local_rank % device_count
};

// Throws moqa::Error for an unknown device name or a device this build or machine cannot provide.
std::unique_ptr<Backend> make_backend(const BackendOptions& options);

}  // namespace moqa::backend
