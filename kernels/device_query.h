#pragma once
// Plain C++ view of the CUDA runtime (no CUDA headers), so host code can ask about devices.
namespace moqa::cuda {
// Number of visible CUDA devices; 0 when there is no driver or no device (CI), never an error.
int device_count();
}  // namespace moqa::cuda
