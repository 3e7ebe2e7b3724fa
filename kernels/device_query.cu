#include <cuda_runtime.h>

#include "device_query.h"

namespace moqa::cuda {

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error so later queries start clean
    return 0;
  }
  return count;
}

}  // namespace moqa::cuda
