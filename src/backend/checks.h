#pragma once
// Argument checks of the Backend operations (backend.h), shared by every backend so that all of them accept
// and refuse the same calls, with the same messages. `backend` names the caller in messages ("cpu backend").
// Index arguments (token ids, rows, targets) are checked here too, on the host, before any kernel runs.
#include <cstdint>
#include <span>

#include "backend/array.h"
#include "backend/routing.h"
#include "backend/shapes.h"

namespace moqa::backend {

struct SwigluJob;  // backend.h

// `a` is a matrix [rows, cols] (Array::rows/cols); `what` names it ("bias").
void check_matrix(const char* backend, const char* op, const char* what, const Array& a, int64_t rows, int64_t cols);
// Same element count and last dimension.
void check_same_shape(const char* backend, const char* op, const Array& a, const Array& b);
// Every index in [0, limit); `what` names one index in messages ("token id"), `range` the interval ("the
// vocabulary").
void check_indices(const char* op, const char* what, std::span<const int32_t> indices, int64_t limit,
                   const char* range);

void check_embedding(const char* backend, const Array& table, std::span<const int32_t> ids);
void check_linear(const char* backend, const Array& x, const Array& weight, const Array* bias);
// Every pointer but the biases set; gate and up [ffn, in], down [out, ffn], biases of matching length.
void check_swiglu(const char* backend, const SwigluJob& job);
void check_rms_norm(const char* backend, const Array& x, const Array& weight);
void check_rope(const char* backend, const Array& x, const Array& cos, const Array& sin, const RopeLayout& layout);
void check_attention(const char* backend, const Array& q, const Array& k, const Array& v, const AttentionShape& shape);
void check_scale_rows(const char* backend, const Array& x, const Array& scales);
void check_clamp(const char* backend, float limit);
void check_copy_blocks(const char* backend, const Array& src, const Array& dst, const BlockCopy& blocks);
void check_gather_rows(const Array& x, std::span<const int32_t> rows);
void check_scatter_add_rows(const char* backend, const Array& dst, const Array& src, std::span<const int32_t> rows,
                            std::span<const float> weights);
void check_route(const char* backend, const Array& logits, const RouterSpec& spec);
void check_nll(const char* backend, const Array& logits, std::span<const int32_t> targets);

}  // namespace moqa::backend
