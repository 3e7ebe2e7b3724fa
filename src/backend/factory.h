#pragma once
// Chooses the backend for a run (runtime.device / runtime.threads in the experiment TOML).
#include <cstdint>
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

// The memory the backend make_backend(options) would choose can use, before it is created: for the CPU
// MemAvailable of /proc/meminfo, for CUDA the free memory of the device local_rank % device_count.
struct AvailableMemory {
  bool device = false;  // CUDA device memory
  uint64_t bytes = 0;   // 0: unknown
  std::string source;   // "MemAvailable of /proc/meminfo"
};
AvailableMemory available_memory(const BackendOptions& options);

}  // namespace moqa::backend
