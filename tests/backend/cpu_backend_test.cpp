// Each CPU backend operation against a direct, loop-by-loop statement of its definition in backend.h.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/factory.h"
#include "core/error.h"
#include "test_tensors.h"

namespace moqa::backend {
namespace {

using test::random_tensor;

void expect_near_all(const Tensor& got, const Tensor& want, float tolerance) {
  ASSERT_EQ(got.shape, want.shape);
  for (int64_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got.data[i], want.data[i], tolerance) << "element " << i;
}

class CpuBackendTest : public ::testing::Test {
 protected:
  CpuBackend backend{CpuOptions{.threads = 1}};
};

TEST_F(CpuBackendTest, UploadDownloadRoundTripAndCopyIsIndependent) {
  const Tensor host = random_tensor({3, 5}, 1);
  Array a = backend.upload(host);
  EXPECT_EQ(a.rows(), 3);
  EXPECT_EQ(a.cols(), 5);
  expect_near_all(backend.download(a), host, 0.0f);
  Array b = backend.copy(a);
  backend.clamp(b, 0.0f);
  expect_near_all(backend.download(a), host, 0.0f);
  expect_near_all(backend.download(backend.zeros({2, 2})), Tensor({2, 2}), 0.0f);
}

TEST_F(CpuBackendTest, ReshapeKeepsStorageAndChecksCount) {
  Array a = backend.upload(random_tensor({2, 6}, 2));
  Array b = reshape(a, {3, 4});
  EXPECT_EQ(b.storage, a.storage);
  EXPECT_THROW(reshape(a, {5}), Error);
}

TEST_F(CpuBackendTest, LinearMatchesDefinitionWithAndWithoutBias) {
  const Tensor x = random_tensor({7, 5}, 3), w = random_tensor({4, 5}, 4), bias = random_tensor({4}, 5);
  Array ax = backend.upload(x), aw = backend.upload_weight(w), ab = backend.upload(bias);
  for (const bool with_bias : {false, true}) {
    Tensor want({7, 4});
    for (int64_t r = 0; r < 7; ++r)
      for (int64_t o = 0; o < 4; ++o) {
        double s = with_bias ? bias.data[o] : 0.0;
        for (int64_t i = 0; i < 5; ++i) s += double(x.data[r * 5 + i]) * w.data[o * 5 + i];
        want.data[r * 4 + o] = float(s);
      }
    expect_near_all(backend.download(backend.linear(ax, aw, with_bias ? &ab : nullptr)), want, 1e-5f);
  }
  EXPECT_THROW(backend.linear(backend.upload(random_tensor({7, 4}, 6)), aw, nullptr), Error);
}

TEST_F(CpuBackendTest, RmsNormWholeRowsAndPerGroup) {
  const Tensor x = random_tensor({3, 8}, 7), w4 = random_tensor({4}, 8), w8 = random_tensor({8}, 9);
  for (const Tensor* w : {&w4, &w8}) {
    const int64_t g = w->size();
    Tensor want({3, 8});
    for (int64_t r = 0; r < 3; ++r)
      for (int64_t start = 0; start < 8; start += g) {
        double ms = 0;
        for (int64_t c = 0; c < g; ++c) ms += double(x.data[r * 8 + start + c]) * x.data[r * 8 + start + c];
        ms /= g;
        for (int64_t c = 0; c < g; ++c)
          want.data[r * 8 + start + c] = float(w->data[c] * x.data[r * 8 + start + c] / std::sqrt(ms + 1e-6));
      }
    expect_near_all(backend.download(backend.rms_norm(backend.upload(x), backend.upload(*w), 1e-6f)), want, 1e-5f);
  }
  EXPECT_THROW(backend.rms_norm(backend.upload(x), backend.upload(random_tensor({3}, 1)), 1e-6f), Error);
}

// Rotates a copy of x per the layout definition in backend.h.
Tensor reference_rope(const Tensor& x, const Tensor& cos, const Tensor& sin, const RopeLayout& l) {
  Tensor out = x;
  const int64_t cols = x.dim(-1), half = l.rot_dim / 2;
  for (int64_t r = 0; r < x.dim(0); ++r) {
    const int64_t p = r % l.seq_len;
    for (int64_t h = 0; h < l.heads; ++h) {
      const int64_t base = r * cols + h * l.head_stride + l.offset;
      for (int64_t i = 0; i < half; ++i) {
        const int64_t ia = l.interleaved ? base + 2 * i : base + i;
        const int64_t ib = l.interleaved ? base + 2 * i + 1 : base + i + half;
        const float c = cos.data[p * half + i], s = sin.data[p * half + i];
        out.data[ia] = x.data[ia] * c - x.data[ib] * s;
        out.data[ib] = x.data[ib] * c + x.data[ia] * s;
      }
    }
  }
  return out;
}

TEST_F(CpuBackendTest, RopeHalfInterleavedAndPartial) {
  const int64_t seq = 5;
  Tensor cos({seq, 3}), sin({seq, 3});
  for (int64_t p = 0; p < seq; ++p)
    for (int64_t i = 0; i < 3; ++i) {
      cos.data[p * 3 + i] = float(std::cos(p * (i + 1) * 0.3));
      sin.data[p * 3 + i] = float(std::sin(p * (i + 1) * 0.3));
    }
  const Tensor x = random_tensor({2 * seq, 2 * 10}, 10);
  for (const bool interleaved : {false, true}) {
    for (const int64_t offset : {0, 4}) {
      const RopeLayout layout{.seq_len = seq, .heads = 2, .head_stride = 10, .offset = offset, .rot_dim = 6,
                              .interleaved = interleaved};
      Array a = backend.upload(x);
      backend.rope(a, backend.upload(cos), backend.upload(sin), layout);
      expect_near_all(backend.download(a), reference_rope(x, cos, sin, layout), 1e-6f);
    }
  }
}

Tensor reference_attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionShape& s) {
  Tensor out({s.windows * s.seq_len, s.heads * s.v_dim});
  const int64_t group = s.heads / s.kv_heads;
  for (int64_t w = 0; w < s.windows; ++w)
    for (int64_t h = 0; h < s.heads; ++h)
      for (int64_t i = 0; i < s.seq_len; ++i) {
        const int64_t qi = (w * s.seq_len + i) * s.heads * s.qk_dim + h * s.qk_dim;
        std::vector<double> p(static_cast<size_t>(i + 1));
        double mx = -1e300, sum = 0;
        const int64_t oldest = s.window > 0 ? std::max<int64_t>(0, i + 1 - s.window) : 0;
        for (int64_t j = 0; j <= i; ++j) {
          if (j < oldest) {
            p[j] = -1e300;
            continue;
          }
          const int64_t kj = (w * s.seq_len + j) * s.kv_heads * s.qk_dim + (h / group) * s.qk_dim;
          double d = 0;
          for (int64_t c = 0; c < s.qk_dim; ++c) d += double(q.data[qi + c]) * k.data[kj + c];
          p[j] = d * s.scale;
          mx = std::max(mx, p[j]);
        }
        for (auto& e : p) sum += (e = e == -1e300 ? 0.0 : std::exp(e - mx));
        for (int64_t c = 0; c < s.v_dim; ++c) {
          double acc = 0;
          for (int64_t j = 0; j <= i; ++j)
            acc += p[j] / sum * v.data[(w * s.seq_len + j) * s.kv_heads * s.v_dim + (h / group) * s.v_dim + c];
          out.data[(w * s.seq_len + i) * s.heads * s.v_dim + h * s.v_dim + c] = float(acc);
        }
      }
  return out;
}

TEST_F(CpuBackendTest, CausalGroupedQueryAttention) {
  // seq_len 150 spans several query blocks; v_dim != qk_dim as in MLA.
  const AttentionShape s{.windows = 2, .seq_len = 150, .heads = 4, .kv_heads = 2, .qk_dim = 6, .v_dim = 5,
                         .scale = 0.4f};
  const Tensor q = random_tensor({300, 24}, 11), k = random_tensor({300, 12}, 12), v = random_tensor({300, 10}, 13);
  expect_near_all(backend.download(backend.attention(backend.upload(q), backend.upload(k), backend.upload(v), s)),
                  reference_attention(q, k, v, s), 1e-5f);
  EXPECT_THROW(backend.attention(backend.upload(q), backend.upload(q), backend.upload(v), s), Error);
}

TEST_F(CpuBackendTest, SlidingWindowAttention) {
  const AttentionShape s{.windows = 1, .seq_len = 100, .heads = 2, .kv_heads = 1, .qk_dim = 4, .v_dim = 4,
                         .scale = 0.5f, .window = 7};
  const Tensor q = random_tensor({100, 8}, 21), k = random_tensor({100, 4}, 22), v = random_tensor({100, 4}, 23);
  expect_near_all(backend.download(backend.attention(backend.upload(q), backend.upload(k), backend.upload(v), s)),
                  reference_attention(q, k, v, s), 1e-5f);
}

TEST_F(CpuBackendTest, ElementwiseOps) {
  const Tensor g = random_tensor({3, 4}, 14), u = random_tensor({3, 4}, 15);
  Tensor want({3, 4});
  for (int64_t i = 0; i < 12; ++i) want.data[i] = float(g.data[i] / (1 + std::exp(-double(g.data[i]))) * u.data[i]);
  expect_near_all(backend.download(backend.silu_mul(backend.upload(g), backend.upload(u))), want, 1e-6f);

  Array a = backend.upload(g);
  backend.add(a, backend.upload(u));
  for (int64_t i = 0; i < 12; ++i) want.data[i] = g.data[i] + u.data[i];
  expect_near_all(backend.download(a), want, 1e-6f);

  Array b = backend.upload(g);
  backend.scale_rows(b, backend.upload(Tensor({3}, {2.0f, -1.0f, 0.5f})));
  for (int64_t i = 0; i < 12; ++i) want.data[i] = g.data[i] * (i < 4 ? 2.0f : i < 8 ? -1.0f : 0.5f);
  expect_near_all(backend.download(b), want, 1e-6f);

  Array c = backend.upload(g);
  backend.sigmoid(c);
  for (int64_t i = 0; i < 12; ++i) want.data[i] = float(1 / (1 + std::exp(-double(g.data[i]))));
  expect_near_all(backend.download(c), want, 1e-6f);

  Array d = backend.upload(g);
  backend.clamp(d, 0.5f);
  for (int64_t i = 0; i < 12; ++i) want.data[i] = std::clamp(g.data[i], -0.5f, 0.5f);
  expect_near_all(backend.download(d), want, 0.0f);
}

TEST_F(CpuBackendTest, CopyBlocksSplitsConcatenatesAndBroadcasts) {
  const Tensor src = random_tensor({2, 9}, 16);
  Array dst = backend.zeros({2, 8});
  // Two heads of 4 columns: the first 3 from src blocks at stride 3, the last one broadcast from column 8.
  backend.copy_blocks(backend.upload(src), dst, {.count = 2, .width = 3, .src_offset = 0, .src_stride = 3,
                                                 .dst_offset = 0, .dst_stride = 4});
  backend.copy_blocks(backend.upload(src), dst, {.count = 2, .width = 1, .src_offset = 8, .src_stride = 0,
                                                 .dst_offset = 3, .dst_stride = 4});
  const Tensor got = backend.download(dst);
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t h = 0; h < 2; ++h) {
      for (int64_t j = 0; j < 3; ++j) EXPECT_EQ(got.data[r * 8 + h * 4 + j], src.data[r * 9 + h * 3 + j]);
      EXPECT_EQ(got.data[r * 8 + h * 4 + 3], src.data[r * 9 + 8]);
    }
  EXPECT_THROW(backend.copy_blocks(backend.upload(src), dst, {.count = 3, .width = 3, .src_offset = 0,
                                                              .src_stride = 3, .dst_offset = 0, .dst_stride = 4}),
               Error);
}

TEST_F(CpuBackendTest, EmbeddingGatherScatter) {
  const Tensor table = random_tensor({6, 3}, 17);
  const std::vector<int32_t> ids{5, 0, 5};
  const Tensor e = backend.download(backend.embedding(backend.upload(table), ids));
  for (size_t i = 0; i < ids.size(); ++i)
    for (int64_t c = 0; c < 3; ++c) EXPECT_EQ(e.data[i * 3 + c], table.data[ids[i] * 3 + c]);
  const std::vector<int32_t> bad{6};
  EXPECT_THROW(backend.embedding(backend.upload(table), bad), Error);

  const std::vector<int32_t> rows{4, 1};
  const Tensor g = backend.download(backend.gather_rows(backend.upload(table), rows));
  for (int64_t c = 0; c < 3; ++c) EXPECT_EQ(g.data[3 + c], table.data[3 + c]);

  Array acc = backend.zeros({6, 3});
  const std::vector<int32_t> to{2, 2};
  const std::vector<float> w{0.5f, 2.0f};
  backend.scatter_add_rows(acc, backend.upload(Tensor({2, 3}, {1, 2, 3, 4, 5, 6})), to, w);
  const Tensor s = backend.download(acc);
  EXPECT_FLOAT_EQ(s.data[6], 0.5f + 8.0f);
  EXPECT_FLOAT_EQ(s.data[8], 1.5f + 12.0f);
  EXPECT_FLOAT_EQ(s.data[0], 0.0f);
}

TEST_F(CpuBackendTest, NllIsNegativeLogSoftmax) {
  const Tensor logits = random_tensor({4, 11}, 18, 3.0f);
  const std::vector<int32_t> targets{0, 10, 3, 3};
  const std::vector<float> got = backend.nll(backend.upload(logits), targets);
  for (int64_t r = 0; r < 4; ++r) {
    double sum = 0;
    for (int64_t c = 0; c < 11; ++c) sum += std::exp(double(logits.data[r * 11 + c]));
    EXPECT_NEAR(got[r], std::log(sum) - logits.data[r * 11 + targets[r]], 1e-5);
  }
  const std::vector<int32_t> bad{0, 11, 0, 0};
  EXPECT_THROW(backend.nll(backend.upload(logits), bad), Error);
}

TEST_F(CpuBackendTest, RopeRefusesLayoutsOutsideTheRow) {
  Array x = backend.upload(random_tensor({4, 8}, 40));
  const Array cos = backend.upload(Tensor({4, 2}, 1.0f)), sin = backend.upload(Tensor({4, 2}));
  const RopeLayout fits{.seq_len = 4, .heads = 2, .head_stride = 4, .offset = 0, .rot_dim = 4};
  backend.rope(x, cos, sin, fits);
  for (const RopeLayout bad : {RopeLayout{.seq_len = 4, .heads = 2, .head_stride = 4, .offset = -1, .rot_dim = 4},
                               RopeLayout{.seq_len = 4, .heads = 0, .head_stride = 4, .offset = 0, .rot_dim = 4},
                               RopeLayout{.seq_len = 4, .heads = 3, .head_stride = 4, .offset = 0, .rot_dim = 4},
                               RopeLayout{.seq_len = 4, .heads = 2, .head_stride = 4, .offset = 1, .rot_dim = 4}}) {
    EXPECT_THROW(backend.rope(x, cos, sin, bad), Error);
  }
}

// Batches of no tokens (a rank without data) and of single tokens pass through every operation.
TEST_F(CpuBackendTest, EmptyAndSingleTokenInputs) {
  const Array none = backend.zeros({0, 8});
  EXPECT_EQ(backend.linear(none, backend.upload(random_tensor({3, 8}, 41)), nullptr).shape, (Shape{0, 3}));
  EXPECT_EQ(backend.rms_norm(none, backend.upload(random_tensor({8}, 42)), 1e-6f).shape, (Shape{0, 8}));
  EXPECT_EQ(backend.silu_mul(none, none).shape, (Shape{0, 8}));
  EXPECT_EQ(backend.embedding(backend.upload(random_tensor({5, 8}, 43)), {}).shape, (Shape{0, 8}));
  EXPECT_EQ(backend.gather_rows(backend.upload(random_tensor({5, 8}, 44)), {}).shape, (Shape{0, 8}));
  EXPECT_TRUE(backend.nll(none, {}).empty());
  const RouteResult routed = backend.route(none, {.top_k = 2});
  EXPECT_EQ(routed.routing.tokens, 0);
  EXPECT_TRUE(routed.routing.experts.empty());
  EXPECT_EQ(routed.scores.shape, (Shape{0, 8}));
  Array dst = backend.upload(random_tensor({2, 8}, 45));
  const Tensor before = backend.download(dst);
  backend.scatter_add_rows(dst, none, {}, {});
  expect_near_all(backend.download(dst), before, 0.0f);
  const AttentionShape no_windows{.windows = 0, .seq_len = 4, .heads = 2, .kv_heads = 1, .qk_dim = 4, .v_dim = 4};
  EXPECT_EQ(backend.attention(none, backend.zeros({0, 4}), backend.zeros({0, 4}), no_windows).shape, (Shape{0, 8}));

  // One token per window: each query sees only its own key, so the output is its value row.
  const AttentionShape single{.windows = 3, .seq_len = 1, .heads = 2, .kv_heads = 1, .qk_dim = 4, .v_dim = 4,
                              .scale = 0.5f};
  const Tensor q = random_tensor({3, 8}, 46), k = random_tensor({3, 4}, 47), v = random_tensor({3, 4}, 48);
  const Tensor out =
      backend.download(backend.attention(backend.upload(q), backend.upload(k), backend.upload(v), single));
  for (int64_t t = 0; t < 3; ++t)
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t c = 0; c < 4; ++c) EXPECT_EQ(out.data[t * 8 + h * 4 + c], v.data[t * 4 + c]);

  // Rows of no columns stay rows: a linear from 0 input features is its bias on every row.
  const Tensor bias = random_tensor({3}, 49);
  const Array ab = backend.upload(bias);
  const Tensor y = backend.download(backend.linear(backend.zeros({5, 0}), backend.zeros({3, 0}), &ab));
  ASSERT_EQ(y.shape, (Shape{5, 3}));
  for (int64_t r = 0; r < 5; ++r)
    for (int64_t c = 0; c < 3; ++c) EXPECT_EQ(y.data[r * 3 + c], bias.data[c]);
}

TEST(CpuBackendThreads, ResultsDoNotDependOnTheThreadCount) {
  CpuBackend one(CpuOptions{.threads = 1}), three(CpuOptions{.threads = 3});
  const AttentionShape s{.windows = 3, .seq_len = 70, .heads = 4, .kv_heads = 2, .qk_dim = 8, .v_dim = 8,
                         .scale = 0.3f};
  const Tensor q = random_tensor({210, 32}, 31), k = random_tensor({210, 16}, 32), v = random_tensor({210, 16}, 33);
  const Tensor logits = random_tensor({50, 300}, 34), w = random_tensor({32}, 35);
  const std::vector<int32_t> targets(50, 7);
  for (CpuBackend* b : {&one, &three}) EXPECT_FALSE(b->describe().empty());
  auto run = [&](CpuBackend& b) {
    Tensor att = b.download(b.attention(b.upload(q), b.upload(k), b.upload(v), s));
    Tensor norm = b.download(b.rms_norm(b.upload(q), b.upload(w), 1e-6f));
    const std::vector<float> nll = b.nll(b.upload(logits), targets);
    att.data.insert(att.data.end(), norm.data.begin(), norm.data.end());
    att.data.insert(att.data.end(), nll.begin(), nll.end());
    return att.data;
  };
  EXPECT_EQ(run(one), run(three));
}

// A MoE layer's experts as one routed_experts call: with several threads the CPU backend runs one job per
// thread with single-threaded BLAS. Every output and activation must equal the one-thread backend's, one
// job at a time, bit for bit (an expert's values may not depend on its batch or the thread count), and the
// definition within float rounding.
TEST(CpuBackendThreads, RoutedExpertsRunConcurrentlyWithTheValuesOfOneAfterAnother) {
  CpuBackend three(CpuOptions{.threads = 3});
  const int64_t in = 48, ffn = 40, out = 48;
  const std::vector<int64_t> rows = {1, 37, 300, 5, 64, 2};
  std::vector<Tensor> x, gate, up, down, gate_bias;
  for (size_t j = 0; j < rows.size(); ++j) {
    const uint32_t seed = 100 + 10 * static_cast<uint32_t>(j);
    x.push_back(random_tensor({rows[j], in}, seed));
    gate.push_back(random_tensor({ffn, in}, seed + 1, 0.2f));
    up.push_back(random_tensor({ffn, in}, seed + 2, 0.2f));
    down.push_back(random_tensor({out, ffn}, seed + 3, 0.2f));
    gate_bias.push_back(random_tensor({ffn}, seed + 4));
  }
  struct OnBackend {
    std::vector<Array> x, gate, up, down, gate_bias;
    std::vector<SwigluJob> jobs;
  };
  const auto upload = [&](Backend& b) {
    OnBackend on;
    for (size_t j = 0; j < rows.size(); ++j) {
      on.x.push_back(b.upload(x[j]));
      on.gate.push_back(b.upload_weight(gate[j]));
      on.up.push_back(b.upload_weight(up[j]));
      on.down.push_back(b.upload_weight(down[j]));
      on.gate_bias.push_back(b.upload(gate_bias[j]));
    }
    for (size_t j = 0; j < rows.size(); ++j) {
      on.jobs.push_back({.x = &on.x[j],
                         .gate = &on.gate[j],
                         .gate_bias = j % 2 ? &on.gate_bias[j] : nullptr,
                         .up = &on.up[j],
                         .up_bias = nullptr,
                         .down = &on.down[j],
                         .down_bias = nullptr});
    }
    return on;
  };
  const OnBackend on_three = upload(three);
  const std::vector<SwigluResult> together = three.routed_experts(on_three.jobs, /*keep_activated=*/true);
  ASSERT_EQ(together.size(), rows.size());
  std::vector<Tensor> together_out, together_activated;
  for (const SwigluResult& r : together) {
    together_out.push_back(three.download(r.out));
    together_activated.push_back(three.download(r.activated));
  }
  EXPECT_TRUE(three.routed_experts(on_three.jobs, /*keep_activated=*/false)[3].activated.empty());
  // One job alone on three threads: the same values as in company.
  EXPECT_EQ(three.download(three.routed_experts({&on_three.jobs[2], 1}, false)[0].out).data, together_out[2].data);

  SwigluJob bad = on_three.jobs[0];
  bad.down = &on_three.gate[0];  // [ffn, in] where [out, ffn] belongs
  const std::vector<SwigluJob> with_bad = {on_three.jobs[1], bad};
  try {
    three.routed_experts(with_bad, false);
    FAIL() << "a mis-shaped down weight was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("swiglu: down weight of shape [40, 48]"), std::string::npos) << e.what();
  }

  CpuBackend one(CpuOptions{.threads = 1});  // (sets OpenBLAS's process-wide count to 1 from here on)
  const OnBackend on_one = upload(one);
  for (size_t j = 0; j < rows.size(); ++j) {
    const SwigluResult alone = swiglu(one, on_one.jobs[j], /*keep_activated=*/true);
    EXPECT_EQ(together_out[j].data, one.download(alone.out).data) << "job " << j;
    EXPECT_EQ(together_activated[j].data, one.download(alone.activated).data) << "job " << j;

    // The definition, in double.
    Tensor want({rows[j], out});
    for (int64_t r = 0; r < rows[j]; ++r) {
      std::vector<double> act(static_cast<size_t>(ffn));
      for (int64_t f = 0; f < ffn; ++f) {
        double a = j % 2 ? gate_bias[j].data[static_cast<size_t>(f)] : 0.0, b = 0.0;
        for (int64_t i = 0; i < in; ++i) {
          const double xi = x[j].data[static_cast<size_t>(r * in + i)];
          a += xi * gate[j].data[static_cast<size_t>(f * in + i)];
          b += xi * up[j].data[static_cast<size_t>(f * in + i)];
        }
        act[static_cast<size_t>(f)] = a / (1.0 + std::exp(-a)) * b;
      }
      for (int64_t o = 0; o < out; ++o) {
        double y = 0.0;
        for (int64_t f = 0; f < ffn; ++f)
          y += act[static_cast<size_t>(f)] * down[j].data[static_cast<size_t>(o * ffn + f)];
        want.data[static_cast<size_t>(r * out + o)] = static_cast<float>(y);
      }
    }
    expect_near_all(together_out[j], want, 2e-3f);
  }
}

TEST(BackendFactory, KnownAndUnknownDevices) {
  EXPECT_NE(make_backend({.device = "cpu", .threads = 1}), nullptr);
  EXPECT_NE(make_backend({.device = "auto", .threads = 1}), nullptr);
  EXPECT_THROW(make_backend({.device = "tpu"}), Error);
}

}  // namespace
}  // namespace moqa::backend
