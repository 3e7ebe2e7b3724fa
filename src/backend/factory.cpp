#include "backend/factory.h"

#include <fstream>
#include <sstream>

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#ifdef MOQA_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#include "kernels/device_query.h"
#endif

namespace moqa::backend {
namespace {

int visible_cuda_devices() {
#ifdef MOQA_HAVE_CUDA
  return cuda::device_count();
#else
  return 0;
#endif
}

std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& options, int devices) {
#ifdef MOQA_HAVE_CUDA
  MOQA_CHECK(options.local_rank >= 0, "backend: local rank ", options.local_rank, " is negative");
  return std::make_unique<CudaBackend>(CudaOptions{.device = options.local_rank % devices});
#else
  (void)options;
  (void)devices;
  fail("runtime.device = \"cuda\": this build has no CUDA backend (configure with -DMOQA_CUDA=ON)");
#endif
}

}  // namespace

std::unique_ptr<Backend> make_backend(const BackendOptions& options) {
  if (options.device == "cpu") return std::make_unique<CpuBackend>(CpuOptions{.threads = options.threads});
  if (options.device == "cuda" || options.device == "auto") {
    const int devices = visible_cuda_devices();
    if (devices > 0) return make_cuda_backend(options, devices);
    if (options.device == "auto") return std::make_unique<CpuBackend>(CpuOptions{.threads = options.threads});
#ifdef MOQA_HAVE_CUDA
    fail(
        "runtime.device = \"cuda\": no CUDA device is visible (check the driver and CUDA_VISIBLE_DEVICES, or use "
        "\"cpu\" / \"auto\")");
#else
    return make_cuda_backend(options, 0);
#endif
  }
  fail("runtime.device: unknown device \"", options.device, "\" (expected \"cpu\", \"cuda\" or \"auto\")");
}

AvailableMemory available_memory(const BackendOptions& options) {
  const int devices = options.device == "cpu" ? 0 : visible_cuda_devices();
  if (devices > 0) {
#ifdef MOQA_HAVE_CUDA
    const int device = options.local_rank % devices;
    return {true, cuda::device_free_memory(device), cat("free memory of CUDA device ", device)};
#endif
  }
  std::ifstream meminfo("/proc/meminfo");
  for (std::string line; std::getline(meminfo, line);) {
    std::istringstream fields(line);
    std::string key;
    uint64_t kib = 0;
    if (fields >> key >> kib && key == "MemAvailable:") return {false, kib * 1024, "MemAvailable of /proc/meminfo"};
  }
  return {false, 0, "no /proc/meminfo MemAvailable"};
}

}  // namespace moqa::backend
