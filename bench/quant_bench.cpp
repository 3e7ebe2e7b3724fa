// CPU reference speed of the quantization hot paths on Mixtral-8x7B expert shapes: Hessian accumulation
// (GFLOP/s), RTN (GB/s of float32 weights read) and GPTQ (seconds per matrix), 4-bit, group 128.
// Weights and inputs are random (generated in memory). Usage: quant_bench [samples] [rows cols ...]
//   default: 2048 input rows, shapes 14336x4096 (w1/w3) and 4096x14336 (w2).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "quant/gptq.h"
#include "quant/hessian.h"
#include "quant/rtn.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

moqa::Tensor random_tensor(int64_t rows, int64_t cols, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  moqa::Tensor t({rows, cols});
  for (float& v : t.data) v = normal(rng);
  return t;
}

}  // namespace

// A positive integer argument, or nothing (the caller prints the usage).
std::optional<int64_t> positive(const char* text) {
  char* end = nullptr;
  const long long value = std::strtoll(text, &end, 10);
  if (end == text || *end != '\0' || value <= 0) return std::nullopt;
  return value;
}

int main(int argc, char** argv) {
  const auto usage = [&] {
    std::fprintf(stderr,
                 "usage: %s [SAMPLES [ROWS COLS ...]]\n"
                 "  SAMPLES  input rows per Hessian (default 2048)\n"
                 "  ROWS COLS  weight shapes to time (default 14336 4096 and 4096 14336, Mixtral-8x7B experts)\n",
                 argv[0]);
    return 2;
  };
  std::vector<int64_t> numbers;
  for (int i = 1; i < argc; ++i) {
    const auto value = positive(argv[i]);
    if (!value) return usage();
    numbers.push_back(*value);
  }
  if (numbers.size() > 1 && numbers.size() % 2 == 0) return usage();  // SAMPLES then whole (ROWS, COLS) pairs
  const int64_t samples = numbers.empty() ? 2048 : numbers[0];
  std::vector<std::pair<int64_t, int64_t>> shapes{{14336, 4096}, {4096, 14336}};
  if (numbers.size() > 1) {
    shapes.clear();
    for (size_t i = 1; i + 1 < numbers.size(); i += 2) shapes.emplace_back(numbers[i], numbers[i + 1]);
  }
  const moqa::quant::QuantSpec spec{4, 128, false};
  std::printf("quant_bench: %lld input rows per Hessian, %d bits, group %lld\n", static_cast<long long>(samples),
              spec.bits, static_cast<long long>(spec.group_size));
  std::printf("| W rows x cols | Hessian GFLOP/s | RTN GB/s | GPTQ s | GPTQ act-order s |\n");
  std::printf("|---|---:|---:|---:|---:|\n");
  for (const auto& [rows, cols] : shapes) {
    const moqa::Tensor w = random_tensor(rows, cols, 1);
    moqa::quant::Hessian h;
    double hessian_gflops = 0.0;
    {
      const moqa::Tensor x = random_tensor(samples, cols, 2);
      moqa::quant::HessianSum acc = moqa::quant::make_hessian_sum(cols);
      const auto start = Clock::now();
      moqa::quant::accumulate(acc, x);
      // The upper triangle with the diagonal: cols * (cols + 1) / 2 multiply-adds per input row.
      hessian_gflops = double(samples) * double(cols) * double(cols + 1) / seconds_since(start) * 1e-9;
      h = moqa::quant::normalized_hessian(acc);
    }
    auto start = Clock::now();
    const moqa::quant::QuantizedMatrix rtn = moqa::quant::quantize_rtn(w, spec, "bench");
    const double rtn_gbs = double(w.size()) * sizeof(float) / seconds_since(start) * 1e-9;
    moqa::quant::GptqOptions options;
    start = Clock::now();
    const auto plain = moqa::quant::quantize_gptq(w, h, spec, options, "bench");
    const double gptq_s = seconds_since(start);
    options.act_order = true;
    start = Clock::now();
    const auto ordered = moqa::quant::quantize_gptq(w, std::move(h), spec, options, "bench");
    const double act_order_s = seconds_since(start);
    std::printf("| %lld x %lld | %.1f | %.2f | %.1f | %.1f |\n", static_cast<long long>(rows),
                static_cast<long long>(cols), hessian_gflops, rtn_gbs, gptq_s, act_order_s);
    std::fflush(stdout);
    if (rtn.packed.empty() || plain.matrix.packed.empty() || ordered.matrix.packed.empty()) return 1;
  }
  return 0;
}
