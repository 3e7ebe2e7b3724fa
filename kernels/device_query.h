#pragma once
// Plain C++ view of the CUDA runtime (no CUDA headers), so host code can ask about devices.
namespace moqa::cuda {
// Number of visible CUDA devices; 0 when there is no driver or no device (CI), never an error.
int device_count();
// Free memory of `device` in bytes (cudaMemGetInfo); 0 when it cannot be queried.
unsigned long long device_free_memory(int device);
}  // namespace moqa::cuda
