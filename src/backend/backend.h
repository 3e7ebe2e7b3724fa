#pragma once
// The compute interface every model, analysis and evaluation step goes through. One implementation per
// device (cpu/, cuda/); model code only sees this header, so adding a device changes no model code. Each
// operation below has exactly one CPU implementation (src/backend/cpu/kernels.h), which is the reference
// the CUDA kernels are tested against. Argument checks are shared by all backends (checks.h).
//
// Conventions
// - Activations are matrices [rows, cols] (Array::rows/cols); a batch of `windows` sequences of
//   `seq_len` tokens is stored window-major: row = window * seq_len + position.
// - Weights follow PyTorch nn.Linear: [out_features, in_features]; linear computes x · Wᵀ (+ bias).
// - Computation is float32 with float32 (or wider) accumulation. A backend may store weights in a
//   narrower type (upload_weight) but never changes what an operation computes.
// - Operations that the host needs the result of (routing decisions, losses) return host values: those
//   are the only implicit device->host transfers.
// - Shapes are checked; a mismatch throws moqa::Error naming the operation and both shapes.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/array.h"
#include "backend/routing.h"
#include "backend/shapes.h"
#include "core/tensor.h"

namespace moqa::backend {

// One SwiGLU MLP on its own rows: out = (silu(x·gateᵀ + gate_bias) * (x·upᵀ + up_bias))·downᵀ + down_bias,
// the routed, shared and dense MLPs of every supported family. Pointers are borrowed for the call; a bias
// pointer may be null.
struct SwigluJob {
  const Array* x = nullptr;  // [n, in]
  const Array* gate = nullptr;
  const Array* gate_bias = nullptr;
  const Array* up = nullptr;
  const Array* up_bias = nullptr;
  const Array* down = nullptr;
  const Array* down_bias = nullptr;
};

struct SwigluResult {
  Array out;        // [n, out]
  Array activated;  // [n, ffn]: silu(gate)·up, the down projection's input; empty unless asked for
};

// Scores and decisions of Backend::route.
struct RouteResult {
  Routing routing;  // host
  Array scores;     // [tokens, n_experts]: softmax or sigmoid of the logits (unbiased)
};

class Backend {
 public:
  virtual ~Backend() = default;

  // "cpu (OpenBLAS, 2 threads)": for logs and provenance.
  virtual std::string describe() const = 0;

  // ---- Transfers -------------------------------------------------------------------------------
  virtual Array upload(const Tensor& host) = 0;         // activations: stored as float32
  virtual Array upload_weight(const Tensor& host) = 0;  // weights: the backend chooses the storage type
  // upload_weight of a tensor the caller gives up: the CPU backend keeps its buffer instead of copying it.
  virtual Array take_weight(Tensor&& host) { return upload_weight(host); }
  virtual Tensor download(const Array& array) = 0;
  virtual Array zeros(const Shape& shape) = 0;
  virtual Array copy(const Array& array) = 0;  // an independent duplicate

  // ---- Operations ------------------------------------------------------------------------------
  // Rows of table [vocab, d] for each id -> [ids.size(), d]. An id outside [0, vocab) throws.
  virtual Array embedding(const Array& table, std::span<const int32_t> ids) = 0;

  // x [n, in] · weight[out, in]ᵀ (+ bias [out]) -> [n, out].
  virtual Array linear(const Array& x, const Array& weight, const Array* bias) = 0;

  // Root-mean-square norm (Hugging Face RMSNorm, float32): every group of g = weight.size() consecutive
  // columns is scaled by 1/sqrt(mean(x²) + eps) and then by weight. g = cols normalises whole rows;
  // g = head_dim normalises each head (Qwen3 q/k norm). cols must be a multiple of g.
  virtual Array rms_norm(const Array& x, const Array& weight, float eps) = 0;

  // In place. cos and sin are [seq_len, rot_dim/2] tables (position p, frequency i).
  virtual void rope(Array& x, const Array& cos, const Array& sin, const RopeLayout& layout) = 0;

  virtual Array attention(const Array& q, const Array& k, const Array& v, const AttentionShape& shape) = 0;

  // SwiGLU activation: silu(gate) * up, elementwise ([n, f] each).
  virtual Array silu_mul(const Array& gate, const Array& up) = 0;

  // A MoE layer's routed experts, each a SwiGLU MLP on its own rows; results in job order. keep_activated:
  // also return each job's activation. The default runs them one after another (swiglu below); a backend
  // may run them concurrently, but an expert's values must not depend on which other jobs share the call
  // (on how many ranks the experts are spread).
  virtual std::vector<SwigluResult> routed_experts(std::span<const SwigluJob> jobs, bool keep_activated);

  virtual void add(Array& dst, const Array& src) = 0;            // dst += src (same shape)
  virtual void scale_rows(Array& x, const Array& scales) = 0;    // x[r, :] *= scales[r]; scales has x.rows() values
  virtual void sigmoid(Array& x) = 0;                            // in place
  virtual void clamp(Array& x, float limit) = 0;                 // in place, to [-limit, limit]
  virtual void copy_blocks(const Array& src, Array& dst, const BlockCopy& blocks) = 0;  // same rows

  // Rows of x at `rows` -> [rows.size(), x.cols()].
  virtual Array gather_rows(const Array& x, std::span<const int32_t> rows) = 0;
  // dst[rows[i], :] += weights[i] * src[i, :], in the order given (a row may repeat).
  virtual void scatter_add_rows(Array& dst, const Array& src, std::span<const int32_t> rows,
                                std::span<const float> weights) = 0;

  // Router: logits [tokens, n_experts] ->
  //   scores = softmax(logits) or sigmoid(logits) per row (float32);
  //   choice = scores + selection_bias (if any); with n_group > 1, each group of n_experts/n_group
  //     experts is rated by the sum of its two best choice values, all but the topk_group best groups
  //     are masked to 0, then the top_k experts by choice value are chosen (ties: lower index first);
  //   weights = the chosen (unbiased) scores, divided by their sum if normalize, times scaling.
  // This reproduces Mixtral, Qwen2/3-MoE, OLMoE, DeepSeek-MoE and DeepSeek-V3 routing.
  virtual RouteResult route(const Array& logits, const RouterSpec& spec) = 0;

  // Negative log-likelihood of targets[r] under log_softmax(logits[r, :]) for every row -> host [rows].
  // Each target must lie in [0, cols).
  virtual std::vector<float> nll(const Array& logits, std::span<const int32_t> targets) = 0;
};

// One SwiGLU MLP through linear and silu_mul (dense and shared MLPs; the default routed_experts).
SwigluResult swiglu(Backend& backend, const SwigluJob& job, bool keep_activated);

}  // namespace moqa::backend
