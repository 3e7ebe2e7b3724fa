// The machine's float32 matrix-multiply rate through the BLAS moqa links (OpenBLAS), the yardstick of the
// scale benchmark's "fraction of sgemm": C[m,n] = A[m,k] B[k,n] at a square size, best of `reps`.
//   build/bench/sgemm_bench [size=2048] [reps=5]     (OPENBLAS_NUM_THREADS sets the threads)
#include <cblas.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 2048;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 5;
  std::vector<float> a(size_t(n) * n, 0.5f), b(size_t(n) * n, 0.25f), c(size_t(n) * n, 0.0f);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::printf("sgemm %d^3: %.1f GFLOP/s (best of %d, %.3f s)\n", n, 2.0 * n * n * double(n) / best / 1e9, reps, best);
  return 0;
}
