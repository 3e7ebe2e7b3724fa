// Causal (optionally sliding-window) attention. Work is split over (window, key/value head) pairs; each
// pair transposes its keys once into [qk_dim, seq_len] so that the scores of one query against all
// visible keys are a contiguous, vectorisable loop, and serves all query heads of its group.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backend/cpu/kernels.h"

namespace moqa::backend::cpu {

void attention(WorkerPool& pool, const float* q, const float* k, const float* v, const AttentionShape& shape,
               float* out) {
  const int64_t seq = shape.seq_len;
  const int64_t group = shape.heads / shape.kv_heads;
  const int64_t qk_dim = shape.qk_dim, v_dim = shape.v_dim;
  const int64_t ldq = shape.heads * qk_dim;
  const int64_t ldk = shape.kv_heads * qk_dim;
  const int64_t ldv = shape.kv_heads * v_dim;
  const int64_t ldo = shape.heads * v_dim;
  const int64_t pairs = shape.windows * shape.kv_heads;

  pool.parallel_for(pairs, 1, [&](int64_t first_pair, int64_t last_pair) {
    std::vector<float> keys_t(static_cast<size_t>(qk_dim * seq));  // [qk_dim][seq]
    std::vector<float> scores(static_cast<size_t>(seq));
    std::vector<float> acc(static_cast<size_t>(v_dim));
    for (int64_t pair = first_pair; pair < last_pair; ++pair) {
      const int64_t w = pair / shape.kv_heads, kv = pair % shape.kv_heads;
      const float* kw = k + w * seq * ldk + kv * qk_dim;
      const float* vw = v + w * seq * ldv + kv * v_dim;
      for (int64_t j = 0; j < seq; ++j)
        for (int64_t d = 0; d < qk_dim; ++d) keys_t[static_cast<size_t>(d * seq + j)] = kw[j * ldk + d];

      for (int64_t h = kv * group; h < (kv + 1) * group; ++h) {
        for (int64_t i = 0; i < seq; ++i) {
          const int64_t oldest = shape.window > 0 ? std::max<int64_t>(0, i + 1 - shape.window) : 0;
          const float* qi = q + (w * seq + i) * ldq + h * qk_dim;
          float* s = scores.data();
          std::fill(s + oldest, s + i + 1, 0.0f);
          for (int64_t d = 0; d < qk_dim; ++d) {
            const float qd = qi[d];
            const float* kt = keys_t.data() + d * seq;
            for (int64_t j = oldest; j <= i; ++j) s[j] += qd * kt[j];
          }
          float max_score = -std::numeric_limits<float>::infinity();
          for (int64_t j = oldest; j <= i; ++j) {
            s[j] *= shape.scale;
            max_score = std::max(max_score, s[j]);
          }
          double sum = 0.0;
          for (int64_t j = oldest; j <= i; ++j) {
            s[j] = std::exp(s[j] - max_score);
            sum += s[j];
          }
          const float inv = static_cast<float>(1.0 / sum);
          std::fill(acc.begin(), acc.end(), 0.0f);
          for (int64_t j = oldest; j <= i; ++j) {
            const float p = s[j] * inv;
            const float* vj = vw + j * ldv;
            for (int64_t d = 0; d < v_dim; ++d) acc[static_cast<size_t>(d)] += p * vj[d];
          }
          std::copy(acc.begin(), acc.end(), out + (w * seq + i) * ldo + h * v_dim);
        }
      }
    }
  });
}

}  // namespace moqa::backend::cpu
