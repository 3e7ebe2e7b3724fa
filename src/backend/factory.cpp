#include "backend/factory.h"

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"

namespace moqa::backend {

std::unique_ptr<Backend> make_backend(const BackendOptions& options) {
  // "auto" resolves to the CPU until the CUDA backend exists; then it prefers a visible device.
  if (options.device == "cpu" || options.device == "auto") {
    return std::make_unique<CpuBackend>(CpuOptions{.threads = options.threads});
  }
  if (options.device == "cuda") fail("runtime.device = \"cuda\": this build has no CUDA backend yet (use \"cpu\")");
  fail("runtime.device: unknown device \"", options.device, "\" (expected \"cpu\", \"cuda\" or \"auto\")");
}

}  // namespace moqa::backend
