#include <cuda_bf16.h>
#include <mma.h>

#include "kernels/check.cuh"
#include "kernels/device_memory.cuh"
#include "kernels/device_utils.cuh"
#include "kernels/grouped_gemm.cuh"

namespace moqa::cuda {
namespace {

namespace wmma = nvcuda::wmma;

constexpr int kTileM = 64;  // rows of x per block
constexpr int kTileN = 64;  // output columns (rows of W) per block
constexpr int kTileK = 32;  // reduction slice staged in shared memory
constexpr int kPadK = 8;    // keeps WMMA's leading dimension a multiple of 8 and spreads banks
constexpr int kPadN = 4;
constexpr int kWarps = 4;  // 2 x 2 warps, each a 32 x 32 quarter of the tile (2 x 2 fragments)

// One block per (row tile of one group, column tile). tile_group / tile_row0 list the row tiles of all groups.
__global__ void __launch_bounds__(kWarps * 32)
    grouped_gemm_kernel(const float* x, int64_t k, int64_t n, const __nv_bfloat16* const* weights,
                        const int64_t* group_first_row, const int64_t* group_rows, const int32_t* tile_group,
                        const int64_t* tile_row0, float* y) {
  __shared__ __align__(32) __nv_bfloat16 a_tile[kTileM][kTileK + kPadK];
  __shared__ __align__(32) __nv_bfloat16 b_tile[kTileN][kTileK + kPadK];
  __shared__ __align__(32) float c_tile[kTileM][kTileN + kPadN];

  const int32_t g = tile_group[blockIdx.x];
  const int64_t row0 = tile_row0[blockIdx.x];  // first row of this tile inside its group
  const int64_t rows_left = group_rows[g] - row0;
  const int64_t valid_rows = rows_left < kTileM ? rows_left : kTileM;
  const float* xg = x + (group_first_row[g] + row0) * k;
  const __nv_bfloat16* wg = weights[g];
  const int64_t n0 = static_cast<int64_t>(blockIdx.y) * kTileN;
  const int warp = threadIdx.x / 32;
  const int warp_m = warp / 2, warp_n = warp % 2;

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  for (int64_t k0 = 0; k0 < k; k0 += kTileK) {
    for (int i = threadIdx.x; i < kTileM * kTileK; i += blockDim.x) {
      const int r = i / kTileK, c = i % kTileK;
      const float v = (r < valid_rows && k0 + c < k) ? xg[r * k + k0 + c] : 0.0f;
      a_tile[r][c] = __float2bfloat16_rn(v);
    }
    for (int i = threadIdx.x; i < kTileN * kTileK; i += blockDim.x) {
      const int r = i / kTileK, c = i % kTileK;
      b_tile[r][c] = (n0 + r < n && k0 + c < k) ? wg[(n0 + r) * k + k0 + c] : __float2bfloat16_rn(0.0f);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTileK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a_frag[2];
      // B = W_gᵀ slice (k x n): b_tile[col][k] is B stored column-major with leading dimension kTileK + kPadK.
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> b_frag[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(a_frag[i], &a_tile[warp_m * 32 + i * 16][kk], kTileK + kPadK);
#pragma unroll
      for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(b_frag[j], &b_tile[warp_n * 32 + j * 16][kk], kTileK + kPadK);
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], a_frag[i], b_frag[j], acc[i][j]);
    }
    __syncthreads();  // the tiles are overwritten by the next slice
  }

#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(&c_tile[warp_m * 32 + i * 16][warp_n * 32 + j * 16], acc[i][j], kTileN + kPadN,
                              wmma::mem_row_major);
  __syncthreads();
  float* yg = y + (group_first_row[g] + row0) * n;
  for (int i = threadIdx.x; i < kTileM * kTileN; i += blockDim.x) {
    const int r = i / kTileN, c = i % kTileN;
    if (r < valid_rows && n0 + c < n) yg[r * n + n0 + c] = c_tile[r][c];
  }
}

}  // namespace

void grouped_gemm_bf16(const float* x, int64_t k, int64_t n, const std::vector<const uint16_t*>& weights,
                       const std::vector<int64_t>& group_rows, float* y, cudaStream_t stream) {
  MOQA_CHECK(weights.size() == group_rows.size(), "grouped_gemm_bf16: ", weights.size(), " weights for ",
             group_rows.size(), " groups");
  std::vector<int64_t> first_row(group_rows.size());
  std::vector<int32_t> tile_group;
  std::vector<int64_t> tile_row0;
  int64_t row = 0;
  for (size_t g = 0; g < group_rows.size(); ++g) {
    MOQA_CHECK(group_rows[g] >= 0, "grouped_gemm_bf16: group ", g, " has ", group_rows[g], " rows");
    first_row[g] = row;
    for (int64_t r0 = 0; r0 < group_rows[g]; r0 += kTileM) {
      tile_group.push_back(static_cast<int32_t>(g));
      tile_row0.push_back(r0);
    }
    row += group_rows[g];
  }
  if (tile_group.empty() || n == 0) return;
  if (k == 0) {  // an empty reduction: y = 0
    MOQA_CUDA_CHECK(cudaMemsetAsync(y, 0, static_cast<size_t>(row * n) * sizeof(float), stream));
    return;
  }
  const int64_t column_tiles = (n + kTileN - 1) / kTileN;
  MOQA_CHECK(column_tiles <= 65535, "grouped_gemm_bf16: ", n, " output columns exceed the grid's y limit");
  std::vector<const __nv_bfloat16*> weight_ptrs(weights.size());
  for (size_t g = 0; g < weights.size(); ++g) weight_ptrs[g] = reinterpret_cast<const __nv_bfloat16*>(weights[g]);
  const auto d_weights = to_device(weight_ptrs, stream);
  const auto d_first_row = to_device(first_row, stream);
  const auto d_rows = to_device(group_rows, stream);
  const auto d_tile_group = to_device(tile_group, stream);
  const auto d_tile_row0 = to_device(tile_row0, stream);
  const dim3 grid(exact_grid(static_cast<int64_t>(tile_group.size()), "grouped_gemm_bf16"),
                  static_cast<unsigned>(column_tiles));
  grouped_gemm_kernel<<<grid, kWarps * 32, 0, stream>>>(x, k, n, d_weights.data(), d_first_row.data(), d_rows.data(),
                                                        d_tile_group.data(), d_tile_row0.data(), y);
  MOQA_CUDA_CHECK_LAUNCH("grouped_gemm_kernel");
}

}  // namespace moqa::cuda
