// Does MoQa's mechanism work when the structure it looks for is there? (issue 11, item 6)
//
// A planted model: the trained mixtral-tiny with, in every MoE layer, two experts whose outputs matter far
// more than the others' while they are routed about as often as the rest. The planted experts are the two of
// median routing frequency (ranks 4 and 5 of 8 by top-2 selections on calibration-side text), chosen layer
// by layer on the model planted so far; their down_proj (w2) is multiplied by kScale. Router, gate and up
// are untouched, so which expert a token goes to changes only through the larger residual contributions of
// earlier layers, and every quantization error of a planted expert reaches the residual stream kScale times
// larger (RTN's relative error is scale-free). kScale = 4 is a power of two, so the BF16 weights stay exact;
// the planted model's held-out NLL is 5.84 nats/token against the original's 5.01.
//
// The pipeline (mpiexec -n 2; calibrate once, 16 windows x 128 tokens of wiki and shakespeare *train*, then
// allocate + quantize per method reusing those statistics; RTN, group 128, f16 scales, defaults otherwise:
// output_mean_abs significance, fit = mean; allocation.match_uniform_bits = 3 so every method stores the
// uniform 3-bit model's 3.1875 bits per expert weight) runs uniform, and moeptq and moqa on two candidate
// sets: the paper's {2,4,6,8} and {2,3,4,6,8}. Then, in process, the full-precision planted model and each
// saved quantized checkpoint run on held-out windows (6 x 128 tokens of each *test* text) and the mean
// per-token KL(P_fp || P_quantized) is measured.
//
// Asserted: (a) every planted expert ranks higher by S_exp than by routed fraction, and in no layer does
// the routed fraction rank both planted experts first; (b) moqa gives the planted experts more bits than
// moeptq on both candidate sets; (c) equal stored bits (+-0.01), and with {2,3,4,6,8} moqa's KL is below
// moeptq's and uniform's. Measured but NOT asserted, because they fail (see the comments below and
// experiments/README.md, "Mechanism test"): both planted experts first by S_exp in every layer (5 of 8
// are), and moqa beating moeptq or uniform with the paper's {2,4,6,8}. ~40 s on 2 cores.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend/cpu/cpu_backend.h"
#include "data/corpus.h"
#include "io/hdf5_file.h"
#include "io/safetensors.h"
#include "model/forward.h"
#include "model/model.h"
#include "support/test_support.h"
#include "tokenizer/tokenizer.h"

namespace moqa::pipeline {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using test::mpiexec;
using test::shell_quoted;
using test::toml_path;

constexpr float kScale = 4.0f;  // the planted experts' down_proj factor
constexpr int64_t kSeqLen = 128;
constexpr int64_t kWindowsPerText = 6;  // held-out windows per test text (2 texts)

fs::path trained_dir() { return test::assets_dir() / "trained"; }
fs::path corpus(const std::string& name) { return trained_dir() / "corpus_xz" / (name + ".txt.xz"); }


json read_json(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return json::parse(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
}

// kWindowsPerText consecutive windows of kSeqLen tokens from the start of each named text.
model::TokenBatch windows_of(const Tokenizer& tokenizer, const std::vector<std::string>& texts) {
  model::TokenBatch batch{.windows = 0, .seq_len = kSeqLen, .ids = {}};
  for (const std::string& t : texts) {
    const std::vector<int32_t> ids = data::load_token_stream(
        tokenizer, {.path = corpus(t)}, {.max_tokens = kWindowsPerText * kSeqLen});
    EXPECT_EQ(static_cast<int64_t>(ids.size()), kWindowsPerText * kSeqLen) << t;
    batch.ids.insert(batch.ids.end(), ids.begin(), ids.end());
    batch.windows += kWindowsPerText;
  }
  return batch;
}

// Per MoE layer, the experts ordered by how often the router picks them (top-2) on `batch`, most first.
std::vector<std::vector<int64_t>> frequency_order(const fs::path& model_dir, const model::TokenBatch& batch) {
  backend::CpuBackend cpu(backend::CpuOptions{.threads = 1});
  model::Model m = model::Model::open(model_dir, cpu);
  model::ForwardTrace trace{.hidden_states = false, .router_logits = true};
  model::forward_logits(m, batch, {}, &trace);
  std::vector<std::vector<int64_t>> order;
  for (const Tensor& r : trace.routers) {
    if (r.data.empty()) continue;
    const int64_t tokens = r.shape[0], experts = r.shape[1];
    std::vector<int64_t> picks(experts, 0);
    for (int64_t t = 0; t < tokens; ++t) {
      std::vector<int64_t> idx(experts);
      std::iota(idx.begin(), idx.end(), 0);
      const float* row = r.data.data() + t * experts;
      std::partial_sort(idx.begin(), idx.begin() + 2, idx.end(), [&](int64_t a, int64_t b) { return row[a] > row[b]; });
      ++picks[idx[0]];
      ++picks[idx[1]];
    }
    std::vector<int64_t> idx(experts);
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return picks[a] > picks[b]; });
    order.push_back(idx);
  }
  return order;
}

// A copy of mixtral-tiny with the experts in planted[layer] given down_proj x kScale (BF16 kept).
void write_planted_model(const fs::path& dir, const std::vector<std::vector<int64_t>>& planted) {
  const fs::path from = trained_dir() / "mixtral-tiny";
  fs::create_directories(dir);
  fs::copy_file(from / "config.json", dir / "config.json");
  fs::copy_file(from / "tokenizer.json", dir / "tokenizer.json");
  const auto file = io::SafetensorsFile::open(from / "model-00001-of-00001.safetensors");
  std::vector<std::vector<std::byte>> storage;
  std::vector<io::TensorToWrite> list;
  storage.reserve(file.tensors().size());
  for (const auto& entry : file.tensors()) {
    Tensor t = file.read(entry.name);
    for (size_t layer = 0; layer < planted.size(); ++layer)
      for (const int64_t e : planted[layer])
        if (entry.name == "model.layers." + std::to_string(layer) + ".block_sparse_moe.experts." +
                              std::to_string(e) + ".w2.weight")
          for (float& v : t.data) v *= kScale;
    storage.push_back(io::convert_from_f32(io::DType::BF16, t.data));
    list.push_back({entry.name, io::DType::BF16, t.shape, storage.back()});
  }
  io::write_safetensors(dir / "model.safetensors", list);
}

// Mean per-token KL(P_ref || P_q) in nats, log-softmax in double.
double mean_kl(const Tensor& ref, const Tensor& q) {
  const int64_t rows = ref.shape[0], vocab = ref.shape[1];
  double total = 0.0;
  std::vector<double> lp(vocab), lq(vocab);
  for (int64_t r = 0; r < rows; ++r) {
    auto log_softmax = [&](const float* x, std::vector<double>& out) {
      const double mx = *std::max_element(x, x + vocab);
      double s = 0.0;
      for (int64_t v = 0; v < vocab; ++v) s += std::exp(x[v] - mx);
      const double lse = mx + std::log(s);
      for (int64_t v = 0; v < vocab; ++v) out[v] = x[v] - lse;
    };
    log_softmax(ref.data.data() + r * vocab, lp);
    log_softmax(q.data.data() + r * vocab, lq);
    for (int64_t v = 0; v < vocab; ++v) total += std::exp(lp[v]) * (lp[v] - lq[v]);
  }
  return total / static_cast<double>(rows);
}

// Mean next-token NLL of a batch's logits (to show the planted model is still a language model).
double mean_nll(const Tensor& logits, const model::TokenBatch& batch) {
  const model::NextTokenTargets t = model::next_token_targets(batch);
  const int64_t vocab = logits.shape[1];
  double total = 0.0;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const float* x = logits.data.data() + static_cast<int64_t>(t.rows[i]) * vocab;
    const double mx = *std::max_element(x, x + vocab);
    double s = 0.0;
    for (int64_t v = 0; v < vocab; ++v) s += std::exp(x[v] - mx);
    total += mx + std::log(s) - x[t.targets[i]];
  }
  return total / static_cast<double>(t.rows.size());
}

Tensor logits_of(const fs::path& model_dir, const model::TokenBatch& batch) {
  backend::CpuBackend cpu(backend::CpuOptions{.threads = 1});
  model::Model m = model::Model::open(model_dir, cpu);
  return model::forward_logits(m, batch);
}

// One pipeline run on the planted model into root/<run>; the uniform run calibrates, the others reuse its
// statistics (runtime.statistics_from), so every method sees the same S_exp and routed fractions.
void pipeline_run(const fs::path& root, const fs::path& model_dir, const std::string& run, const std::string& method,
                  const std::string& candidates) {
  std::ostringstream toml;
  const bool first = run == "uniform";
  toml << "[experiment]\nname = \"planted-" << run << "\"\nseed = 0\nstages = "
       << (first ? "[\"calibrate\", \"allocate\", \"quantize\"]" : "[\"allocate\", \"quantize\"]")
       << "\noutput_dir = " << toml_path(root / run) << "\n\n[model]\npath = " << toml_path(model_dir) << "\n\n";
  for (const char* d : {"wiki", "shakespeare"})
    toml << "[[calibration]]\nname = \"" << d << "\"\npath = " << toml_path(corpus(std::string(d) + ".train"))
         << "\nsamples = 16\nseq_len = 128\nmax_tokens = 50000\n\n";
  toml << "[allocation]\nmethod = \"" << method << "\"\nmatch_uniform_bits = 3\ncandidate_bits = " << candidates
       << "\n\n[quantization]\nmethod = \"rtn\"\ngroup_size = 128\nsave_checkpoint = true\n\n"
       << "[runtime]\ndevice = \"cpu\"\n";
  if (!first) toml << "resume = true\nstatistics_from = " << toml_path(root / "uniform") << "\n";
  fs::create_directories(root);
  const fs::path path = root / (run + ".toml");
  std::ofstream(path) << toml.str();
  const test::CommandResult result = test::run_command("timeout 300 " + mpiexec(2) + " " +
                                                       shell_quoted(test::pipeline_exe()) + " " + shell_quoted(path));
  ASSERT_EQ(result.exit_code, 0) << result.output;
}

template <typename T>
std::vector<std::vector<T>> matrix(const io::H5Reader& h5, const std::string& dataset) {
  const io::H5Array<T> a = h5.read<T>(dataset);
  std::vector<std::vector<T>> out(a.shape[0]);
  for (int64_t l = 0; l < a.shape[0]; ++l)
    out[l].assign(a.values.begin() + l * a.shape[1], a.values.begin() + (l + 1) * a.shape[1]);
  return out;
}

// Rank (0 = largest) of expert e by value within its layer (ties: lower index first).
int64_t rank_in(const std::vector<double>& values, int64_t e) {
  int64_t rank = 0;
  for (size_t i = 0; i < values.size(); ++i)
    if (values[i] > values[e] || (values[i] == values[e] && static_cast<int64_t>(i) < e)) ++rank;
  return rank;
}

std::string widths(const std::vector<std::vector<int64_t>>& bits) {
  std::string s;
  for (const auto& row : bits) {
    s += " [";
    for (const int64_t b : row) s += std::to_string(b);
    s += "]";
  }
  return s;
}

TEST(PlantedMechanism, MoqaFindsAndProtectsExpertsWhoseOutputsMatter) {
  MOQA_REQUIRE_ASSET(trained_dir() / "mixtral-tiny" / "config.json");
  const fs::path root = test::temp_dir("planted-mechanism");
  const fs::path original = trained_dir() / "mixtral-tiny";
  const Tokenizer tokenizer = Tokenizer::load(original / "tokenizer.json");

  // The planted experts, layer by layer: the two of median routing frequency (ranks 4 and 5 of 8) on
  // calibration-side text in the model planted so far (layer l's routing depends only on layers < l, so
  // layer l is chosen with the earlier layers already scaled).
  const model::TokenBatch calibration_side = windows_of(tokenizer, {"wiki.train", "shakespeare.train"});
  const fs::path model_dir = root / "planted-model";
  std::vector<std::vector<int64_t>> planted;
  for (size_t layer = 0;; ++layer) {
    const auto order = frequency_order(layer == 0 ? original : model_dir, calibration_side);
    if (layer == order.size()) break;
    planted.push_back({std::min(order[layer][3], order[layer][4]), std::max(order[layer][3], order[layer][4])});
    fs::remove_all(model_dir);
    write_planted_model(model_dir, planted);
  }

  // Two candidate sets: the paper's INT2/4/6/8 (the tables' default) and one with a 3-bit step. uniform is
  // 3 bits in both (match_uniform_bits = 3 names its width), so it runs once.
  struct Run {
    std::string name, method, candidates;
  };
  const std::vector<Run> runs = {{"uniform", "uniform", "[2, 4, 6, 8]"},
                                 {"moeptq-2468", "moeptq", "[2, 4, 6, 8]"},
                                 {"moqa-2468", "moqa", "[2, 4, 6, 8]"},
                                 {"moeptq-23468", "moeptq", "[2, 3, 4, 6, 8]"},
                                 {"moqa-23468", "moqa", "[2, 3, 4, 6, 8]"}};
  for (const Run& run : runs) {
    SCOPED_TRACE(run.name);
    pipeline_run(root, model_dir, run.name, run.method, run.candidates);
    if (HasFatalFailure()) return;
  }

  // (a) significance vs routing, from the statistics every run shares.
  const io::H5Reader h5 = io::H5Reader::open(root / "uniform" / "results.h5");
  const auto significance = matrix<double>(h5, "/allocation/significance_mean");
  const auto routed = matrix<double>(h5, "/allocation/routed_fraction");
  std::map<std::string, std::vector<std::vector<int64_t>>> bits;
  std::map<std::string, int64_t> planted_bits;
  std::map<std::string, double> stored;
  for (const Run& run : runs) {
    bits[run.name] = matrix<int64_t>(io::H5Reader::open(root / run.name / "results.h5"), "/allocation/bits");
    stored[run.name] =
        read_json(root / run.name / "results.json")["allocation"]["stored_bits_experts_with_overhead"].get<double>();
    for (size_t l = 0; l < planted.size(); ++l)
      for (const int64_t e : planted[l]) planted_bits[run.name] += bits[run.name][l][e];
  }
  ASSERT_EQ(significance.size(), planted.size());
  int in_top_two = 0, frequency_ranks_both_first = 0;
  for (size_t l = 0; l < planted.size(); ++l) {
    std::printf("[ measured ] layer %zu:", l);
    for (const int64_t e : planted[l]) {
      const int64_t by_significance = rank_in(significance[l], e), by_routing = rank_in(routed[l], e);
      std::printf(" expert %lld S_exp rank %lld (%.3f), routed rank %lld (%.3f);", static_cast<long long>(e),
                  static_cast<long long>(by_significance), significance[l][e], static_cast<long long>(by_routing),
                  routed[l][e]);
      // Significance lifts every planted expert above where its routing frequency puts it.
      EXPECT_LT(by_significance, by_routing) << "layer " << l << " expert " << e;
      in_top_two += by_significance < 2;
    }
    std::printf("\n");
    if (rank_in(routed[l], planted[l][0]) < 2 && rank_in(routed[l], planted[l][1]) < 2) ++frequency_ranks_both_first;
  }
  EXPECT_EQ(frequency_ranks_both_first, 0) << "the routed fraction alone ranks the planted experts first somewhere";
  // Not asserted: both planted experts first in every layer. Measured at kScale = 4: 5 of the 8 planted experts
  // are in their layer's top 2 by S_exp; the other 3 (routed 0.06-0.12 of the layer's slots against a mean of
  // 0.125) are 3rd or 4th: S_exp weights the output by routing mass, and x4 on half the mean mass does not
  // always beat the trained experts' own spread of output norms.
  std::printf("[ measured ] planted experts in their layer's top 2 by S_exp: %d of %zu\n", in_top_two,
              2 * planted.size());

  // (b) more bits for the planted experts under moqa than under moeptq, for both candidate sets.
  for (const Run& run : runs)
    std::printf("[ measured ] %-12s bits per layer:%s, planted experts' bits summed %lld\n", run.name.c_str(),
                widths(bits[run.name]).c_str(), static_cast<long long>(planted_bits[run.name]));
  EXPECT_GT(planted_bits["moqa-2468"], planted_bits["moeptq-2468"]);
  EXPECT_GT(planted_bits["moqa-23468"], planted_bits["moeptq-23468"]);

  // (c) equal stored bits, and the KL to the full-precision planted model on held-out text.
  const model::TokenBatch held_out = windows_of(tokenizer, {"wiki.test", "shakespeare.test"});
  const Tensor fp = logits_of(model_dir, held_out);
  std::printf("[ measured ] held-out NLL: original %.4f, planted %.4f nats/token\n",
              mean_nll(logits_of(original, held_out), held_out), mean_nll(fp, held_out));
  std::map<std::string, double> kl;
  for (const Run& run : runs) {
    kl[run.name] = mean_kl(fp, logits_of(root / run.name / "quantized-model", held_out));
    std::printf("[ measured ] %-12s stored %.4f bits per expert weight, KL(fp || q) %.4f nats/token\n",
                run.name.c_str(), stored[run.name], kl[run.name]);
    EXPECT_NEAR(stored[run.name], stored["uniform"], 0.01) << run.name;
  }
  // With a 3-bit step moqa beats both (measured: moqa 1.148, uniform 1.390, moeptq 1.796 nats/token).
  EXPECT_LT(kl["moqa-23468"], kl["moeptq-23468"]);
  EXPECT_LT(kl["moqa-23468"], kl["uniform"]);
  // With the paper's INT2/4/6/8 it does NOT, and this is recorded, not asserted (experiments/README.md,
  // "Mechanism test"). Measured: uniform 3-bit 1.390 < moeptq 1.796 < moqa 1.974 nats/token, although moqa
  // gives the planted experts 32 bits against moeptq's 24: at a 3-bit budget both mixed methods must put half
  // of every layer's experts at 2 bits, and a 2-bit RTN expert of this model costs far more than a 4-bit one
  // saves, and moqa's 2-bit experts include frequently routed ones that moeptq keeps at 4 bits.
  std::printf("[ measured ] INT2/4/6/8: moqa %s moeptq, moqa %s uniform\n",
              kl["moqa-2468"] < kl["moeptq-2468"] ? "beats" : "does not beat",
              kl["moqa-2468"] < kl["uniform"] ? "beats" : "does not beat");
}

}  // namespace
}  // namespace moqa::pipeline
