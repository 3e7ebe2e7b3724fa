// CUDA backend throughput on a Mixtral-8x7B-shaped layer (hidden 4096, expert FFN 14336, 8 experts top-2,
// 32 heads / 8 kv heads, vocab 32000; calibration set 128 windows x 2048 tokens; random weights generated
// in memory), each figure next to the H100's ceilings (copy ~3.0 TB/s, bf16 matmul ~790 TFLOP/s) as a
// fraction. The two ceilings are also measured on the device at hand (first two rows).
//
//   build/bench/cuda_bench                      # all sections, full sizes
//   build/bench/cuda_bench --quick              # small sizes: a smoke run in seconds
//   build/bench/cuda_bench --only forward,experts,hessian,gptq,dequant --windows 8 --repeat 5
//
// Timing: one warm-up call, then the median of --repeat runs timed with CUDA events on the backend's stream
// (GPTQ: host wall clock, since it is a host-driven sequence with transfers). Inputs are random, never zeros;
// the dequant-matmul rotates over several weight sets larger than L2 together. Without a visible CUDA
// device it prints a message and exits 0 (CI builds it but has no GPU).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "backend/cuda/context.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/gptq.h"
#include "backend/cuda/hessian.h"
#include "backend/cuda/quantized_matrix.h"
#include "backend/cuda/routed_experts.h"
#include "core/error.h"
#include "kernels/device_query.h"
#include "model/forward.h"
#include "model/model.h"
#include "model/synthetic_weights.h"
#include "model/weight_source.h"
#include "quant/format.h"
#include "quant/hessian.h"

namespace {

using namespace moqa;
using Clock = std::chrono::steady_clock;

constexpr double kCopyCeiling = 3.0e12;  // bytes/s (read + written), H100 SXM measured
constexpr double kBf16Ceiling = 790e12;  // FLOP/s, H100 SXM dense bf16 matmul measured

struct Options {
  bool quick = false;
  int repeat = 5;
  int64_t windows = 8;  // forward batch: windows x seq_len tokens per timed call
  std::vector<std::string> only;
  bool wants(const std::string& section) const {
    return only.empty() || std::find(only.begin(), only.end(), section) != only.end();
  }
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      MOQA_CHECK(i + 1 < argc, arg, " needs a value");
      return argv[++i];
    };
    if (arg == "--quick") {
      o.quick = true;
    } else if (arg == "--repeat") {
      o.repeat = std::max(1, std::atoi(value().c_str()));
    } else if (arg == "--windows") {
      o.windows = std::max<int64_t>(1, std::atoll(value().c_str()));
    } else if (arg == "--only") {
      const std::string list = value();
      size_t start = 0;
      while (start <= list.size()) {
        const size_t comma = std::min(list.find(',', start), list.size());
        o.only.push_back(list.substr(start, comma - start));
        start = comma + 1;
      }
    } else {
      fail("unknown argument '", arg, "' (see the comment at the top of bench/cuda_bench.cpp)");
    }
  }
  return o;
}

// splitmix64: a fast, platform-independent stream of random bits for large synthetic tensors.
uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Uniform values with the given mean and standard deviation, filled by all hardware threads.
void fill_random(std::vector<float>& data, uint64_t seed, float mean, float stddev) {
  const float half_width = stddev * std::sqrt(3.0f);
  const size_t threads = std::max(1u, std::thread::hardware_concurrency());
  const size_t per = (data.size() + threads - 1) / threads;
  std::vector<std::thread> pool;
  for (size_t t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (size_t i = t * per; i < std::min(data.size(), (t + 1) * per); ++i) {
        const double unit = static_cast<double>(mix(seed ^ (i * 0x100000001B3ull)) >> 11) * 0x1.0p-53;  // [0, 1)
        data[i] = mean + half_width * static_cast<float>(2.0 * unit - 1.0);
      }
    });
  }
  for (std::thread& th : pool) th.join();
}

Tensor random_tensor(Shape shape, uint64_t seed, float mean = 0.0f, float stddev = 1.0f) {
  Tensor t(std::move(shape));
  fill_random(t.data, seed, mean, stddev);
  return t;
}

// model::SyntheticWeights' distributions (matrices std 1/sqrt(in), norms around 1), generated in parallel:
// a Mixtral-8x7B layer has 1.4 G parameters.
class FastSyntheticWeights final : public model::WeightSource {
 public:
  bool contains(const std::string&) const override { return true; }
  Tensor load(const std::string& name, const Shape& shape) const override {
    uint64_t seed = 1469598103934665603ull;
    for (const unsigned char ch : name) seed = (seed ^ ch) * 1099511628211ull;
    const bool is_norm = name.find("norm") != std::string::npos;
    const float stddev = shape.size() == 2 ? 1.0f / std::sqrt(static_cast<float>(shape[1])) : 0.1f;
    return random_tensor(shape, seed, is_norm ? 1.0f : 0.0f, stddev);
  }
  std::string describe() const override { return "fast synthetic weights"; }
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// Median milliseconds of `fn` on the backend's stream (events), after one warm-up call.
double time_ms(backend::CudaBackend& gpu, int repeat, const std::function<void()>& fn) {
  fn();
  gpu.synchronize();
  const cudaStream_t stream = gpu.context()->stream_handle();
  std::vector<double> runs;
  for (int i = 0; i < repeat; ++i) {
    cuda::Event start, stop;
    start.record(stream);
    fn();
    stop.record(stream);
    runs.push_back(stop.milliseconds_since(start));
  }
  gpu.synchronize();
  return median(runs);
}

struct Row {
  std::string what;
  std::string result;
  double fraction;  // of the ceiling named in `ceiling`
  std::string ceiling;
};

std::string format(const char* pattern, double value) {
  char text[64];
  std::snprintf(text, sizeof text, pattern, value);
  return text;
}

void measure_ceilings(backend::CudaBackend& gpu, const Options& o, std::vector<Row>& rows) {
  const cudaStream_t stream = gpu.context()->stream_handle();
  const size_t bytes = o.quick ? (size_t{256} << 20) : (size_t{2} << 30);
  cuda::DeviceArray<char> src(bytes, stream), dst(bytes, stream);
  MOQA_CUDA_CHECK(cudaMemsetAsync(src.data(), 0x5A, bytes, stream));
  const double copy_ms = time_ms(gpu, o.repeat, [&] {
    MOQA_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), bytes, cudaMemcpyDeviceToDevice, stream));
  });
  const double copy_rate = 2.0 * static_cast<double>(bytes) / (copy_ms * 1e-3);
  rows.push_back({"device copy (read + write), measured", format("%.2f TB/s", copy_rate * 1e-12),
                  copy_rate / kCopyCeiling, "3.0 TB/s"});

  const int64_t n = o.quick ? 2048 : 8192;
  const Tensor a = random_tensor({n, n}, 1), b = random_tensor({n, n}, 2);
  const backend::Array wa = gpu.upload_weight(a), wb = gpu.upload_weight(b);
  cuda::DeviceArray<float> c(static_cast<size_t>(n * n), stream);
  const float one = 1.0f, zero = 0.0f;
  const int dim = static_cast<int>(n);
  const double gemm_ms = time_ms(gpu, o.repeat, [&] {
    MOQA_CUBLAS_CHECK(cublasGemmEx(gpu.context()->blas.get(), CUBLAS_OP_T, CUBLAS_OP_N, dim, dim, dim, &one,
                                   cuda::storage_of(wa, "bench").data(), CUDA_R_16BF, dim,
                                   cuda::storage_of(wb, "bench").data(), CUDA_R_16BF, dim, &zero, c.data(), CUDA_R_32F,
                                   dim, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  });
  const double gemm_rate = 2.0 * std::pow(static_cast<double>(n), 3) / (gemm_ms * 1e-3);
  rows.push_back({"bf16 GEMM " + std::to_string(n) + "^3 (cuBLAS, float32 out), measured",
                  format("%.0f TFLOP/s", gemm_rate * 1e-12), gemm_rate / kBf16Ceiling, "790 TFLOP/s"});
}

model::MixtralShape layer_shape(const Options& o) {
  if (!o.quick) return {};  // MixtralShape's defaults: one Mixtral-8x7B layer
  return {.layers = 1, .hidden = 1024, .expert_ffn = 3584, .heads = 8, .kv_heads = 2};
}

// Matrix-product FLOPs per token of one layer + lm_head (attention scores over a causal window of seq_len).
double flops_per_token(const model::MixtralShape& s, int64_t seq_len) {
  const double d = static_cast<double>(s.hidden), head_dim = d / static_cast<double>(s.heads);
  const double kv = static_cast<double>(s.kv_heads) * head_dim;
  const double projections = d * (d + 2 * kv + d) + d * static_cast<double>(s.experts);
  const double experts = static_cast<double>(s.top_k) * 3.0 * d * static_cast<double>(s.expert_ffn);
  const double attention = 2.0 * d * static_cast<double>(seq_len) / 2.0;  // q.k and p.v over ~seq/2 keys
  const double lm_head = d * static_cast<double>(s.vocab);
  return 2.0 * (projections + experts + attention + lm_head);
}

void measure_forward(backend::CudaBackend& gpu, const Options& o, std::vector<Row>& rows) {
  const model::MixtralShape shape = layer_shape(o);
  const int64_t seq_len = o.quick ? 512 : 2048, windows = o.quick ? 2 : o.windows;
  model::Model model(model::mixtral_config(shape), std::make_shared<FastSyntheticWeights>(), gpu);
  model.load_layer(0);
  const model::TokenBatch batch = model::random_token_batch(windows, seq_len, shape.vocab, 5);
  const model::NextTokenTargets scored = model::next_token_targets(batch);
  const double ms = time_ms(gpu, o.repeat, [&] {
    model::HiddenStates h = model.embed(batch);
    model.forward_layer(0, h);
    const backend::Array normed = model.final_norm(h);
    model.token_nll(normed, scored.rows, scored.targets);
  });
  const double tokens_per_s = static_cast<double>(windows * seq_len) / (ms * 1e-3);
  const double rate = tokens_per_s * flops_per_token(shape, seq_len);
  rows.push_back({"forward (embed, 1 layer, norm, lm_head + NLL), " + std::to_string(windows) + " x " +
                      std::to_string(seq_len) + " tokens, per-expert loop",
                  format("%.0f tokens/s", tokens_per_s) + format(" (%.1f TFLOP/s)", rate * 1e-12), rate / kBf16Ceiling,
                  "790 TFLOP/s"});
  rows.push_back({"  ... 128 x 2048 calibration tokens through this layer",
                  format("%.2f s", 128.0 * 2048.0 / tokens_per_s), NAN, ""});
}

void measure_experts(backend::CudaBackend& gpu, const Options& o, std::vector<Row>& rows) {
  const model::MixtralShape s = layer_shape(o);
  const int64_t tokens = (o.quick ? 2 : o.windows) * (o.quick ? 512 : 2048);
  std::vector<cuda::ExpertWeights> experts(static_cast<size_t>(s.experts));
  for (int64_t e = 0; e < s.experts; ++e) {
    const auto seed = static_cast<uint64_t>(100 + 3 * e);
    const float in_std = 1.0f / std::sqrt(static_cast<float>(s.hidden));
    const float out_std = 1.0f / std::sqrt(static_cast<float>(s.expert_ffn));
    experts[static_cast<size_t>(e)] = {
        gpu.upload_weight(random_tensor({s.expert_ffn, s.hidden}, seed, 0.0f, in_std)),
        gpu.upload_weight(random_tensor({s.expert_ffn, s.hidden}, seed + 1, 0.0f, in_std)),
        gpu.upload_weight(random_tensor({s.hidden, s.expert_ffn}, seed + 2, 0.0f, out_std))};
  }
  const backend::Array x = gpu.upload(random_tensor({tokens, s.hidden}, 7));
  backend::Routing routing{.tokens = tokens, .top_k = s.top_k, .experts = {}, .weights = {}};
  std::mt19937 rng(8);
  for (int64_t t = 0; t < tokens; ++t) {
    const auto first = static_cast<int32_t>(rng() % static_cast<uint32_t>(s.experts));
    const auto second = static_cast<int32_t>((first + 1 + rng() % static_cast<uint32_t>(s.experts - 1)) % s.experts);
    routing.experts.insert(routing.experts.end(), {first, second});
    routing.weights.insert(routing.weights.end(), {0.6f, 0.4f});
  }
  const double flops = 2.0 * static_cast<double>(tokens * s.top_k) * 3.0 * static_cast<double>(s.hidden * s.expert_ffn);
  const double grouped_ms = time_ms(gpu, o.repeat, [&] { cuda::run_routed_experts(gpu, x, routing, experts); });
  // The same work as one cuBLAS call per expert and projection (what the local executor does).
  const auto groups = backend::group_by_expert(routing, s.experts);
  const double loop_ms = time_ms(gpu, o.repeat, [&] {
    backend::Array out = gpu.zeros({tokens, s.hidden});
    for (int64_t e = 0; e < s.experts; ++e) {
      const backend::ExpertTokens& g = groups[static_cast<size_t>(e)];
      const backend::Array in = gpu.gather_rows(x, g.tokens);
      const cuda::ExpertWeights& w = experts[static_cast<size_t>(e)];
      const backend::Array act = gpu.silu_mul(gpu.linear(in, w.gate, nullptr), gpu.linear(in, w.up, nullptr));
      gpu.scatter_add_rows(out, gpu.linear(act, w.down, nullptr), g.tokens, g.weights);
    }
  });
  for (const auto& [name, ms] : {std::pair{"grouped GEMM (cuda::run_routed_experts)", grouped_ms},
                                 std::pair{"one cublasGemmEx per expert", loop_ms}}) {
    const double rate = flops / (ms * 1e-3);
    rows.push_back({std::string("routed experts, ") + std::to_string(tokens) + " tokens top-2, " + name,
                    format("%.1f TFLOP/s", rate * 1e-12) + format(" (%.2f ms)", ms), rate / kBf16Ceiling,
                    "790 TFLOP/s"});
  }
}

void measure_hessian(backend::CudaBackend& gpu, const Options& o, std::vector<Row>& rows) {
  const int64_t samples = o.quick ? 8192 : 128 * 2048, batch = o.quick ? 2048 : 16384;
  for (const int64_t cols : o.quick ? std::vector<int64_t>{1024} : std::vector<int64_t>{4096, 14336}) {
    const backend::Array x = gpu.upload(random_tensor({batch, cols}, static_cast<uint64_t>(cols)));
    cuda::DeviceHessian acc(gpu, cols);
    const double ms = time_ms(gpu, o.repeat, [&] {
      for (int64_t done = 0; done < samples; done += batch) acc.accumulate(x);
    });
    // Counted as the CPU benchmark does: the upper triangle with the diagonal, 2 FLOPs per multiply-add.
    const double rate =
        static_cast<double>(samples) * static_cast<double>(cols) * static_cast<double>(cols + 1) / (ms * 1e-3);
    rows.push_back({"Hessian X^T X, " + std::to_string(samples) + " x " + std::to_string(cols) + " (float64 SYRK)",
                    format("%.1f TFLOP/s", rate * 1e-12) + format(" (%.0f ms)", ms), rate / kBf16Ceiling,
                    "790 TFLOP/s"});
  }
}

void measure_gptq(backend::CudaBackend& gpu, const Options& o, std::vector<Row>& rows) {
  const std::vector<std::pair<int64_t, int64_t>> shapes =
      o.quick ? std::vector<std::pair<int64_t, int64_t>>{{1024, 512}}
              : std::vector<std::pair<int64_t, int64_t>>{{14336, 4096}, {4096, 14336}};
  for (const auto& [out, in] : shapes) {
    cuda::DeviceHessian acc(gpu, in);
    acc.accumulate(gpu.upload(random_tensor({2048, in}, 11)));
    const quant::Hessian h = quant::normalized_hessian(acc.download());
    const Tensor w = random_tensor({out, in}, 12);
    const quant::QuantSpec spec{4, 128, false};
    std::vector<double> seconds;
    for (int i = 0; i < std::min(o.repeat, 3) + 1; ++i) {  // the first run is the warm-up
      const auto start = Clock::now();
      cuda::quantize_gptq(gpu, w, h, spec, {}, "bench");
      if (i > 0) seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    }
    const double s = median(seconds);
    // Counted work: the error updates (rows x cols² multiply-adds) and the factorisation (~cols³).
    const double flops = 2.0 * static_cast<double>(out) * static_cast<double>(in) * static_cast<double>(in) +
                         std::pow(static_cast<double>(in), 3);
    rows.push_back({"GPTQ " + std::to_string(out) + " x " + std::to_string(in) + ", 4-bit g128 (end to end)",
                    format("%.2f s/matrix", s), flops / s / kBf16Ceiling, "790 TFLOP/s"});
  }
}

quant::QuantizedMatrix random_quantized(int64_t rows, int64_t cols, int bits, uint64_t seed) {
  quant::QuantizedMatrix q;
  q.rows = rows;
  q.cols = cols;
  q.bits = bits;
  q.group_size = 128;
  const int64_t groups = cols / 128;
  q.packed.resize(static_cast<size_t>(rows * q.words_per_row()));
  for (size_t i = 0; i < q.packed.size(); ++i) q.packed[i] = static_cast<uint32_t>(mix(seed + i));
  if ((cols * bits) % 32 != 0) {  // keep the unused tail bits of each row zero, as the format requires
    const int used = static_cast<int>((cols * bits) % 32);
    for (int64_t r = 0; r < rows; ++r)
      q.packed[static_cast<size_t>((r + 1) * q.words_per_row() - 1)] &= (1u << used) - 1u;
  }
  q.scales.resize(static_cast<size_t>(rows * groups));
  q.zeros.resize(static_cast<size_t>(rows * groups));
  for (size_t i = 0; i < q.scales.size(); ++i) {
    q.scales[i] = 1e-3f * static_cast<float>(1 + mix(seed ^ (i << 1)) % 100);
    q.zeros[i] = static_cast<uint8_t>(mix(seed ^ (i << 2)) % static_cast<uint64_t>((1 << bits) - 1));
  }
  return q;
}

void measure_dequant(backend::CudaBackend& gpu, const Options& o, std::vector<Row>& rows) {
  const int64_t out = o.quick ? 3584 : 14336, in = o.quick ? 1024 : 4096;
  const int sets = 8;  // 8 x ~31 MB of 4-bit weights: larger than the 50 MB L2 together
  for (const int bits : {4, 3}) {
    std::vector<cuda::DeviceQuantizedMatrix> weights;
    for (int s = 0; s < sets; ++s)
      weights.emplace_back(gpu, random_quantized(out, in, bits, 1000u * s + bits), "bench");
    for (const int64_t n : {int64_t{1}, int64_t{8}, int64_t{2048}}) {
      const backend::Array x = gpu.upload(random_tensor({n, in}, 20 + static_cast<uint64_t>(n)));
      int next = 0;
      const double ms = time_ms(gpu, o.repeat * sets, [&] {
        cuda::quantized_linear(gpu, x, weights[static_cast<size_t>(next)]);
        next = (next + 1) % sets;
      });
      if (n <= 8) {
        const double bytes = static_cast<double>(weights[0].device_bytes()) + 4.0 * static_cast<double>(n * (in + out));
        const double rate = bytes / (ms * 1e-3);
        rows.push_back({"dequant-matmul " + std::to_string(bits) + "-bit g128 " + std::to_string(out) + " x " +
                            std::to_string(in) + ", " + std::to_string(n) + " row(s), fused",
                        format("%.0f GB/s", rate * 1e-9) + format(" (%.1f us)", ms * 1e3), rate / kCopyCeiling,
                        "3.0 TB/s"});
      } else {
        const double rate = 2.0 * static_cast<double>(n * in * out) / (ms * 1e-3);
        rows.push_back({"dequant-matmul " + std::to_string(bits) + "-bit g128 " + std::to_string(out) + " x " +
                            std::to_string(in) + ", " + std::to_string(n) + " rows, dequantize + bf16 GEMM",
                        format("%.1f TFLOP/s", rate * 1e-12) + format(" (%.2f ms)", ms), rate / kBf16Ceiling,
                        "790 TFLOP/s"});
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options options = parse(argc, argv);
    if (cuda::device_count() == 0) {
      std::printf(
          "cuda_bench: no CUDA device visible, nothing to measure (run it on the GPU machine: "
          "docs/PERFORMANCE.md, section CUDA)\n");
      return 0;
    }
    backend::CudaBackend gpu;
    std::printf("cuda_bench on %s%s, median of %d\n", gpu.describe().c_str(), options.quick ? ", --quick" : "",
                options.repeat);
    std::vector<Row> rows;
    const std::vector<std::pair<std::string, void (*)(backend::CudaBackend&, const Options&, std::vector<Row>&)>>
        sections{{"ceilings", measure_ceilings}, {"forward", measure_forward}, {"experts", measure_experts},
                 {"hessian", measure_hessian},   {"gptq", measure_gptq},       {"dequant", measure_dequant}};
    for (const auto& [name, run] : sections) {
      if (!options.wants(name)) continue;
      std::fprintf(stderr, "cuda_bench: %s ...\n", name.c_str());
      run(gpu, options, rows);
    }
    std::printf("\n| measurement | result | H100 ceiling | fraction |\n|---|---:|---:|---:|\n");
    for (const Row& row : rows) {
      std::printf("| %s | %s | %s | %s |\n", row.what.c_str(), row.result.c_str(), row.ceiling.c_str(),
                  std::isnan(row.fraction) ? "" : format("%.3f", row.fraction).c_str());
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_bench: %s\n", e.what());
    return 1;
  }
}
