#pragma once
// Layout parameters of the backend operations that take more than a few numbers (backend.h documents what
// each operation computes with them). Plain C++17 aggregates over the standard library only, so that the
// CUDA kernels (kernels/*.cu, compiled as C++17 by nvcc) take these very structs instead of restating them.
#include <cstdint>

namespace moqa::backend {

// Layout of a rotary embedding applied in place to x [rows, heads * head_stride]: in every head, the
// columns [offset, offset + rot_dim) are rotated; row r has position r % seq_len.
struct RopeLayout {
  int64_t seq_len = 0;
  int64_t heads = 1;
  int64_t head_stride = 0;  // columns per head in x
  int64_t offset = 0;       // first rotated column inside a head
  int64_t rot_dim = 0;      // rotated columns (even)
  // false: rotate-half pairing (i, i + rot_dim/2), the Llama/Hugging Face convention.
  // true: adjacent pairs (2i, 2i+1) (DeepSeek-V3 rope_interleave; equal attention scores to HF's
  // de-interleave-then-rotate-half, since q and k are permuted alike).
  bool interleaved = false;
};

// Causal self-attention over `windows` independent sequences of `seq_len` tokens.
// q [windows*seq_len, heads*qk_dim], k [.., kv_heads*qk_dim], v [.., kv_heads*v_dim]; query head h uses
// key/value head h / (heads / kv_heads) (grouped-query attention). Output [.., heads*v_dim].
struct AttentionShape {
  int64_t windows = 0;
  int64_t seq_len = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t qk_dim = 0;
  int64_t v_dim = 0;
  float scale = 1.0f;  // multiplies q·k before the softmax
  int64_t window = 0;  // sliding window: > 0 lets query i see keys j with i - window < j <= i only
};

// Per row: for i in [0, count): dst[row, dst_offset + i*dst_stride + j] = src[row, src_offset +
// i*src_stride + j] for j in [0, width). src_stride 0 repeats the same source block (broadcast).
// Splits and concatenations of column blocks (MLA's key/value assembly) are all this one operation.
struct BlockCopy {
  int64_t count = 1;
  int64_t width = 0;
  int64_t src_offset = 0, src_stride = 0;
  int64_t dst_offset = 0, dst_stride = 0;
};

}  // namespace moqa::backend
