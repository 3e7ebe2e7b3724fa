#include "backend/checks.h"

#include "backend/backend.h"
#include "core/error.h"

namespace moqa::backend {

void check_matrix(const char* backend, const char* op, const char* what, const Array& a, int64_t rows, int64_t cols) {
  MOQA_CHECK(a.rows() == rows && a.cols() == cols, backend, " ", op, ": ", what, " has shape ", to_string(a.shape),
             ", expected [", rows, ", ", cols, "]");
}

void check_same_shape(const char* backend, const char* op, const Array& a, const Array& b) {
  MOQA_CHECK(a.size() == b.size() && a.cols() == b.cols(), backend, " ", op, ": shapes ", to_string(a.shape), " and ",
             to_string(b.shape), " differ");
}

void check_indices(const char* op, const char* what, std::span<const int32_t> indices, int64_t limit,
                   const char* range) {
  for (size_t i = 0; i < indices.size(); ++i) {
    MOQA_CHECK(indices[i] >= 0 && indices[i] < limit, op, ": ", what, " ", indices[i], " at position ", i,
               " is outside ", range, " [0, ", limit, ")");
  }
}

void check_embedding(const char* backend, const Array& table, std::span<const int32_t> ids) {
  MOQA_CHECK(table.shape.size() == 2, backend, " embedding: table has shape ", to_string(table.shape),
             ", expected [vocab, dim]");
  check_indices("embedding", "token id", ids, table.rows(), "the vocabulary");
}

void check_linear(const char* backend, const Array& x, const Array& weight, const Array* bias) {
  MOQA_CHECK(weight.shape.size() == 2, backend, " linear: weight has shape ", to_string(weight.shape),
             ", expected [out, in]");
  check_matrix(backend, "linear", "input", x, x.rows(), weight.shape[1]);
  if (bias) check_matrix(backend, "linear", "bias", *bias, 1, weight.shape[0]);
}

void check_swiglu(const char* backend, const SwigluJob& job) {
  MOQA_CHECK(job.x && job.gate && job.up && job.down, backend, " swiglu: a job without its input or one of its gate, ",
             "up and down weights");
  check_linear(backend, *job.x, *job.gate, job.gate_bias);
  check_linear(backend, *job.x, *job.up, job.up_bias);
  MOQA_CHECK(job.up->shape == job.gate->shape, backend, " swiglu: up weight of shape ", to_string(job.up->shape),
             " beside gate weight of shape ", to_string(job.gate->shape));
  MOQA_CHECK(job.down->shape.size() == 2 && job.down->shape[1] == job.gate->shape[0], backend,
             " swiglu: down weight of shape ", to_string(job.down->shape), " after an activation of width ",
             job.gate->shape[0]);
  if (job.down_bias) check_matrix(backend, "swiglu", "down bias", *job.down_bias, 1, job.down->shape[0]);
}

void check_rms_norm(const char* backend, const Array& x, const Array& weight) {
  const int64_t group = weight.size();
  MOQA_CHECK(group > 0 && x.cols() % group == 0, backend, " rms_norm: weight of ", group,
             " values does not divide rows of ", x.cols(), " columns (input shape ", to_string(x.shape), ")");
}

void check_rope(const char* backend, const Array& x, const Array& cos, const Array& sin, const RopeLayout& layout) {
  MOQA_CHECK(layout.seq_len > 0 && layout.rot_dim > 0 && layout.rot_dim % 2 == 0 && x.rows() % layout.seq_len == 0,
             backend, " rope: rot_dim ", layout.rot_dim, " must be even and positive and ", x.rows(),
             " rows a multiple of seq_len ", layout.seq_len);
  MOQA_CHECK(layout.offset >= 0 && layout.heads >= 1 && layout.offset + layout.rot_dim <= layout.head_stride &&
                 layout.heads * layout.head_stride <= x.cols(),
             backend, " rope: ", layout.heads, " heads of stride ", layout.head_stride, " rotating [", layout.offset,
             ", ", layout.offset + layout.rot_dim, ") do not fit rows of ", x.cols(), " columns");
  check_matrix(backend, "rope", "cos table", cos, layout.seq_len, layout.rot_dim / 2);
  check_matrix(backend, "rope", "sin table", sin, layout.seq_len, layout.rot_dim / 2);
}

void check_attention(const char* backend, const Array& q, const Array& k, const Array& v, const AttentionShape& s) {
  MOQA_CHECK(s.heads > 0 && s.kv_heads > 0 && s.heads % s.kv_heads == 0, backend, " attention: ", s.heads,
             " query heads are not a multiple of ", s.kv_heads, " key/value heads");
  MOQA_CHECK(s.window >= 0, backend, " attention: negative sliding window ", s.window);
  MOQA_CHECK(s.windows >= 0 && s.seq_len >= 0 && s.qk_dim >= 0 && s.v_dim >= 0, backend,
             " attention: negative dimension in ", s.windows, " windows x ", s.seq_len, " tokens, qk_dim ", s.qk_dim,
             ", v_dim ", s.v_dim);
  const int64_t rows = s.windows * s.seq_len;
  check_matrix(backend, "attention", "q", q, rows, s.heads * s.qk_dim);
  check_matrix(backend, "attention", "k", k, rows, s.kv_heads * s.qk_dim);
  check_matrix(backend, "attention", "v", v, rows, s.kv_heads * s.v_dim);
}

void check_scale_rows(const char* backend, const Array& x, const Array& scales) {
  MOQA_CHECK(scales.size() == x.rows(), backend, " scale_rows: ", scales.size(), " scales for ", x.rows(), " rows");
}

void check_clamp(const char* backend, float limit) {
  MOQA_CHECK(limit >= 0.0f, backend, " clamp: limit ", limit, " is negative");
}

void check_copy_blocks(const char* backend, const Array& src, const Array& dst, const BlockCopy& b) {
  MOQA_CHECK(src.rows() == dst.rows(), backend, " copy_blocks: ", src.rows(), " source rows vs ", dst.rows(),
             " destination rows");
  MOQA_CHECK(b.count >= 1 && b.width >= 0 && b.src_offset >= 0 && b.dst_offset >= 0 && b.src_stride >= 0 &&
                 b.dst_stride >= 0 && b.src_offset + (b.count - 1) * b.src_stride + b.width <= src.cols() &&
                 b.dst_offset + (b.count - 1) * b.dst_stride + b.width <= dst.cols(),
             backend, " copy_blocks: ", b.count, " blocks of ", b.width, " columns (source offset ", b.src_offset,
             " stride ", b.src_stride, ", destination offset ", b.dst_offset, " stride ", b.dst_stride,
             ") do not fit ", src.cols(), " -> ", dst.cols(), " columns");
}

void check_gather_rows(const Array& x, std::span<const int32_t> rows) {
  check_indices("gather_rows", "row", rows, x.rows(), "the source rows");
}

void check_scatter_add_rows(const char* backend, const Array& dst, const Array& src, std::span<const int32_t> rows,
                            std::span<const float> weights) {
  MOQA_CHECK(src.cols() == dst.cols() && src.rows() == static_cast<int64_t>(rows.size()) &&
                 rows.size() == weights.size(),
             backend, " scatter_add_rows: ", src.rows(), " source rows of ", src.cols(), " columns, ", rows.size(),
             " indices and ", weights.size(), " weights for a destination of ", dst.cols(), " columns");
  check_indices("scatter_add_rows", "row", rows, dst.rows(), "the destination rows");
}

void check_route(const char* backend, const Array& logits, const RouterSpec& spec) {
  const int64_t experts = logits.cols();
  MOQA_CHECK(spec.top_k >= 1 && spec.n_group >= 1 && experts % spec.n_group == 0 && spec.topk_group >= 1 &&
                 spec.topk_group <= spec.n_group && spec.top_k <= (experts / spec.n_group) * spec.topk_group,
             backend, " route: cannot choose ", spec.top_k, " of ", experts, " experts in ", spec.topk_group, " of ",
             spec.n_group, " groups");
  if (spec.selection_bias) check_matrix(backend, "route", "selection bias", *spec.selection_bias, 1, experts);
}

void check_nll(const char* backend, const Array& logits, std::span<const int32_t> targets) {
  MOQA_CHECK(static_cast<int64_t>(targets.size()) == logits.rows(), backend, " nll: ", targets.size(),
             " targets for ", logits.rows(), " rows");
  check_indices("nll", "target", targets, logits.cols(), "the vocabulary");
}

}  // namespace moqa::backend
