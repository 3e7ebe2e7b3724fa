// Expert-parallel forward (AlltoallExpertExecutor) under mpiexec -n 1..4 on the golden checkpoints of
// tests/data/arch/<family>. The golden batch's windows are split over the ranks with data::shard_range
// (2 windows: with 3 or 4 ranks some ranks have none), every layer runs with the all-to-all executor,
// and rank 0 gathers hidden states and logits and compares them with
//   - the transformers golden (the model tests' tolerance: max |Δ| <= 1e-4 x std of the golden), and
//   - the single-process forward with LocalExpertExecutor on the whole batch (computed on every rank).
// Every rank also checks each expert call it observed as owner against the single-process run: the
// same rows, global token indices and weights, and each (layer, expert) call happens on exactly one
// rank of the job.
#include "dist/alltoall_executor.h"

#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#include "data/shard.h"
#include "dist/shard_plan.h"
#include "io/safetensors.h"
#include "model/forward.h"
#include "model/model.h"
#include "model/observer.h"
#include "support/mpi_test_support.h"
#include "support/test_support.h"

namespace moqa::dist {
namespace {

constexpr double kGoldenTolerance = 1e-4;  // relative to the golden tensor's standard deviation
// Distributed vs single-process forward, relative to the reference's standard deviation. One rank must
// be exact; with several ranks only BLAS could differ (each expert sees the same row matrix, but the
// dense layers run on fewer rows); observed: exactly 0 with OpenBLAS.
constexpr double kSingleProcessTolerance = 1e-6;

using test::gather_on_root;
using test::sum_over_ranks;
using test::world_rank;
using test::world_size;

double standard_deviation(const std::vector<float>& v) {
  double mean = 0, squares = 0;
  for (float x : v) mean += x;
  mean /= static_cast<double>(v.size());
  for (float x : v) squares += (x - mean) * (x - mean);
  return std::sqrt(squares / static_cast<double>(v.size()));
}

double max_abs_difference(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  if (a.size() != b.size()) return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
  return worst;
}

model::TokenBatch windows_of(const io::SafetensorsFile& golden, int64_t begin, int64_t end) {
  const Tensor ids = golden.read("input_ids");
  const int64_t seq_len = ids.dim(1);
  model::TokenBatch batch{end - begin, seq_len, {}};
  for (int64_t i = begin * seq_len; i < end * seq_len; ++i) batch.ids.push_back(static_cast<int32_t>(ids.data[i]));
  return batch;
}

struct ExpertCall {
  std::vector<int32_t> tokens;
  std::vector<float> weights;
  Tensor rows;
};
using CallKey = std::pair<int64_t, int64_t>;  // (layer, expert)

// Keeps every expert call this process runs.
class ExpertCallRecorder final : public model::ForwardObserver {
 public:
  explicit ExpertCallRecorder(backend::Backend& backend) : backend_(backend) {}
  void on_expert_input(const model::ExpertInputEvent& e) override {
    const auto [it, fresh] = calls.try_emplace({e.layer, e.expert});
    EXPECT_TRUE(fresh) << "layer " << e.layer << " expert " << e.expert << " ran twice";
    it->second = {{e.tokens.begin(), e.tokens.end()}, {e.weights.begin(), e.weights.end()}, backend_.download(e.rows)};
  }
  std::map<CallKey, ExpertCall> calls;

 private:
  backend::Backend& backend_;
};

struct Reference {
  Tensor logits;
  model::ForwardTrace trace{.hidden_states = true};
  std::map<CallKey, ExpertCall> calls;
};

// The single-process forward of the whole golden batch with the local executor.
Reference single_process(const std::filesystem::path& dir, backend::Backend& backend,
                         const io::SafetensorsFile& golden) {
  model::Model model = model::Model::open(dir, backend);
  Reference ref;
  ExpertCallRecorder recorder(backend);
  const Tensor ids = golden.read("input_ids");
  ref.logits = model::forward_logits(model, windows_of(golden, 0, ids.dim(0)), {.observer = &recorder}, &ref.trace);
  ref.calls = std::move(recorder.calls);
  return ref;
}

struct Outcome {
  double worst_golden = 0;     // max over logits and hidden states, relative to the golden's std
  double worst_reference = 0;  // the same against the single-process forward
};

// Runs the distributed forward under `plan` and checks it against the golden and the single-process run.
Outcome check_distributed_forward(const std::string& family, const ShardPlan& plan, bool stream_weights) {
  const auto dir = test::data_dir() / "arch" / family;
  backend::CpuBackend backend(backend::CpuOptions{.threads = 1});
  const auto golden = io::SafetensorsFile::open(dir / "golden.safetensors");
  const Reference ref = single_process(dir, backend, golden);

  const int rank = world_rank(), size = world_size();
  model::ModelOptions options;
  options.stream_weights = stream_weights;
  options.owns_expert = owned_by(plan, rank);
  model::Model model = model::Model::open(dir, backend, options);
  const ModelConfig& config = model.config();
  for (int64_t layer = 0; layer < config.num_layers; ++layer) {
    if (!config.is_moe_layer(layer)) continue;
    for (int64_t e = 0; e < config.num_experts; ++e)
      EXPECT_EQ(model.owns_expert(layer, e), plan.owner(layer, e) == rank);
  }

  const int64_t windows = golden.read("input_ids").dim(0);
  const data::ShardRange mine = data::shard_range(windows, rank, size);
  AlltoallExpertExecutor executor(MPI_COMM_WORLD, plan);
  ExpertCallRecorder recorder(backend);
  model::ForwardTrace trace{.hidden_states = true};
  const Tensor logits = model::forward_logits(model, windows_of(golden, mine.begin, mine.end),
                                              {.experts = &executor, .observer = &recorder}, &trace);
  EXPECT_EQ(logits.size(), mine.size() * golden.read("input_ids").dim(1) * config.vocab_size);

  // Gathered outputs against the golden and the single-process forward.
  Outcome outcome;
  const auto compare = [&](const std::vector<float>& local, const Tensor& want_golden, const Tensor& want_ref,
                           const std::string& what) {
    const std::vector<float> all = gather_on_root(local);
    if (rank != 0) return;
    const double golden_error = max_abs_difference(all, want_golden.data) / standard_deviation(want_golden.data);
    const double ref_error = max_abs_difference(all, want_ref.data) / standard_deviation(want_ref.data);
    EXPECT_LE(golden_error, kGoldenTolerance) << family << " " << what;
    if (size == 1) {
      EXPECT_EQ(ref_error, 0.0) << family << " " << what << ": one rank must equal the local executor bit for bit";
    } else {
      EXPECT_LE(ref_error, kSingleProcessTolerance) << family << " " << what;
    }
    outcome.worst_golden = std::max(outcome.worst_golden, golden_error);
    outcome.worst_reference = std::max(outcome.worst_reference, ref_error);
  };
  compare(logits.data, golden.read("logits"), ref.logits, "logits");
  EXPECT_EQ(trace.hidden.size(), ref.trace.hidden.size());
  for (size_t i = 0; i < std::min(trace.hidden.size(), ref.trace.hidden.size()); ++i) {
    compare(trace.hidden[i].data, golden.read("hidden_states." + std::to_string(i)), ref.trace.hidden[i],
            "hidden_states." + std::to_string(i));
  }

  // Expert calls: each one on its owner, with the rows, global tokens and weights of the single-process run.
  int64_t rows_seen = 0;
  for (const auto& [key, call] : recorder.calls) {
    const auto [layer, expert] = key;
    EXPECT_EQ(plan.owner(layer, expert), rank) << "layer " << layer << " expert " << expert;
    const auto it = ref.calls.find(key);
    if (it == ref.calls.end()) {
      ADD_FAILURE() << family << ": layer " << layer << " expert " << expert << " ran but received no tokens";
      continue;
    }
    EXPECT_EQ(call.tokens, it->second.tokens) << family << " layer " << layer << " expert " << expert;
    EXPECT_EQ(call.weights.size(), it->second.weights.size());
    EXPECT_LE(max_abs_difference(call.weights, it->second.weights), size == 1 ? 0.0 : 1e-6);
    EXPECT_EQ(call.rows.shape, it->second.rows.shape);
    EXPECT_LE(max_abs_difference(call.rows.data, it->second.rows.data),
              size == 1 ? 0.0 : kSingleProcessTolerance * standard_deviation(it->second.rows.data));
    rows_seen += static_cast<int64_t>(call.tokens.size());
  }
  int64_t ref_rows = 0;
  for (const auto& [key, call] : ref.calls) {
    ref_rows += static_cast<int64_t>(call.tokens.size());
    EXPECT_EQ(sum_over_ranks(recorder.calls.count(key)), 1)
        << family << ": layer " << key.first << " expert " << key.second << " must run on exactly one rank";
  }
  const int64_t tokens = windows * golden.read("input_ids").dim(1);
  EXPECT_EQ(ref_rows, tokens * config.top_k * config.num_moe_layers());
  EXPECT_EQ(sum_over_ranks(rows_seen), ref_rows) << family << ": routed (token, expert) pairs over all ranks";
  EXPECT_EQ(sum_over_ranks(static_cast<int64_t>(recorder.calls.size())), static_cast<int64_t>(ref.calls.size()));
  return outcome;
}

class AlltoallExecutorGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(AlltoallExecutorGolden, MatchesGoldenAndSingleProcessForward) {
  const auto dir = test::data_dir() / "arch" / GetParam();
  const ShardPlan plan = make_shard_plan(load_hf_config(dir / "config.json"), world_size());
  const Outcome outcome = check_distributed_forward(GetParam(), plan, /*stream_weights=*/false);
  if (world_rank() == 0) {
    std::printf("[ alltoall ] %-12s %d ranks: max |err|/std vs golden %.2e, vs single process %.2e\n",
                GetParam().c_str(), world_size(), outcome.worst_golden, outcome.worst_reference);
  }
}

// Skewed, non-contiguous ownership: all experts of the first MoE layer on the last rank; in the other
// layers every third expert on the last rank and the rest on rank 0, so ranks 1..n-2 own nothing.
TEST_P(AlltoallExecutorGolden, HandlesUnevenOwnershipAndStreamedWeights) {
  const auto dir = test::data_dir() / "arch" / GetParam();
  ShardPlan plan = make_shard_plan(load_hf_config(dir / "config.json"), world_size());
  const int last = world_size() - 1;
  bool first_moe = true;
  for (int64_t layer = 0; layer < plan.num_layers; ++layer) {
    if (!plan.layer_is_moe[static_cast<size_t>(layer)]) continue;
    for (int64_t e = 0; e < plan.num_experts; ++e) {
      plan.owners[static_cast<size_t>(layer * plan.num_experts + e)] = first_moe || e % 3 == 0 ? last : 0;
    }
    first_moe = false;
  }
  check_distributed_forward(GetParam(), plan, /*stream_weights=*/true);
}

// The executor alone, on the same inputs as LocalExpertExecutor: seeded random rows and routing of 38
// tokens (19 per "window", windows split with shard_range so 3 and 4 ranks leave ranks empty). Each
// expert sees the very matrix the local executor gives it and the combine order is the same, so the
// result must be equal bit for bit on any number of ranks, whatever BLAS does.
TEST_P(AlltoallExecutorGolden, EqualsTheLocalExecutorBitForBit) {
  const auto dir = test::data_dir() / "arch" / GetParam();
  backend::CpuBackend backend(backend::CpuOptions{.threads = 1});
  model::Model everything = model::Model::open(dir, backend);
  const ModelConfig& config = everything.config();
  const int rank = world_rank(), size = world_size();
  const ShardPlan plan = make_shard_plan(config, size);
  model::ModelOptions options;
  options.owns_expert = owned_by(plan, rank);
  model::Model mine = model::Model::open(dir, backend, options);
  AlltoallExpertExecutor executor(MPI_COMM_WORLD, plan);

  constexpr int64_t kWindows = 2, kWindowTokens = 19, kTokens = kWindows * kWindowTokens;
  const int64_t hidden = config.hidden_size, top_k = config.top_k;
  std::mt19937 random(1234);
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> uniform(0.05f, 1.0f);
  Tensor x({kTokens, hidden});
  for (float& v : x.data) v = normal(random);
  backend::Routing routing{.tokens = kTokens, .top_k = top_k, .experts = {}, .weights = {}};
  for (int64_t t = 0; t < kTokens; ++t) {
    std::vector<int32_t> experts(static_cast<size_t>(config.num_experts));
    std::iota(experts.begin(), experts.end(), 0);
    std::shuffle(experts.begin(), experts.end(), random);
    for (int64_t k = 0; k < top_k; ++k) {
      routing.experts.push_back(experts[static_cast<size_t>(k)]);
      routing.weights.push_back(uniform(random));
    }
  }
  const data::ShardRange windows = data::shard_range(kWindows, rank, size);
  const int64_t begin = windows.begin * kWindowTokens, end = windows.end * kWindowTokens;
  backend::Routing part{.tokens = end - begin, .top_k = top_k, .experts = {}, .weights = {}};
  part.experts.assign(routing.experts.begin() + begin * top_k, routing.experts.begin() + end * top_k);
  part.weights.assign(routing.weights.begin() + begin * top_k, routing.weights.begin() + end * top_k);
  const Tensor x_part({end - begin, hidden},
                      std::vector<float>(x.data.begin() + begin * hidden, x.data.begin() + end * hidden));

  for (int64_t layer = 0; layer < config.num_layers; ++layer) {
    if (!config.is_moe_layer(layer)) continue;
    ExpertCallRecorder local_calls(backend), dist_calls(backend);
    model::LocalExpertExecutor local;
    const Tensor want = backend.download(local.run(everything, layer, backend.upload(x), routing, &local_calls));
    const Tensor got = backend.download(executor.run(mine, layer, backend.upload(x_part), part, &dist_calls));
    ASSERT_EQ(got.shape, (Shape{end - begin, hidden}));
    EXPECT_TRUE(std::equal(got.data.begin(), got.data.end(), want.data.begin() + begin * hidden))
        << GetParam() << " layer " << layer << " rank " << rank;
    for (const auto& [key, call] : dist_calls.calls) {
      const ExpertCall& expected = local_calls.calls.at(key);
      EXPECT_EQ(call.tokens, expected.tokens) << "layer " << key.first << " expert " << key.second;
      EXPECT_EQ(call.weights, expected.weights) << "layer " << key.first << " expert " << key.second;
      EXPECT_EQ(call.rows.data, expected.rows.data) << "layer " << key.first << " expert " << key.second;
    }
    EXPECT_EQ(sum_over_ranks(static_cast<int64_t>(dist_calls.calls.size())),
              static_cast<int64_t>(local_calls.calls.size()));
  }
}

INSTANTIATE_TEST_SUITE_P(Families, AlltoallExecutorGolden,
                         ::testing::Values("mixtral", "qwen2_moe", "qwen3_moe", "olmoe", "deepseek_v3"),
                         [](const auto& param) { return param.param; });

class AlltoallExecutorContract : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::data_dir() / "arch" / "mixtral";
    plan_ = make_shard_plan(load_hf_config(dir_ / "config.json"), world_size());
  }
  std::filesystem::path dir_;
  ShardPlan plan_;
  backend::CpuBackend backend_{backend::CpuOptions{.threads = 1}};
};

TEST_F(AlltoallExecutorContract, ZeroTokensOnEveryRank) {
  model::ModelOptions options;
  options.owns_expert = owned_by(plan_, world_rank());
  model::Model model = model::Model::open(dir_, backend_, options);
  AlltoallExpertExecutor executor(MPI_COMM_WORLD, plan_);
  ExpertCallRecorder recorder(backend_);
  const backend::Routing none{.tokens = 0, .top_k = model.config().top_k, .experts = {}, .weights = {}};
  for (int64_t layer = 0; layer < model.config().num_layers; ++layer) {
    const backend::Array out =
        executor.run(model, layer, backend_.zeros({0, model.config().hidden_size}), none, &recorder);
    EXPECT_EQ(out.shape, (Shape{0, model.config().hidden_size}));
  }
  EXPECT_TRUE(recorder.calls.empty());
}

// Ranks calling run() for different layers all get an error (after the header exchange, before any row
// moves), so the job can abort with a message instead of mixing layers.
TEST_F(AlltoallExecutorContract, RanksAtDifferentLayersAllThrow) {
  if (world_size() == 1) GTEST_SKIP() << "needs two ranks";
  model::ModelOptions options;
  options.owns_expert = owned_by(plan_, world_rank());
  model::Model model = model::Model::open(dir_, backend_, options);
  AlltoallExpertExecutor executor(MPI_COMM_WORLD, plan_);
  const backend::Routing none{.tokens = 0, .top_k = model.config().top_k, .experts = {}, .weights = {}};
  const int64_t layer = world_rank() == 0 ? 0 : 1;
  try {
    executor.run(model, layer, backend_.zeros({0, model.config().hidden_size}), none, nullptr);
    ADD_FAILURE() << "rank " << world_rank() << " did not notice the layer mismatch";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is exchanging layer"), std::string::npos) << e.what();
  }
}

TEST_F(AlltoallExecutorContract, RefusesAPlanForAnotherWorldSize) {
  const ShardPlan wrong = make_shard_plan(load_hf_config(dir_ / "config.json"), world_size() + 1);
  EXPECT_THROW(AlltoallExpertExecutor(MPI_COMM_WORLD, wrong), Error);
}

TEST_F(AlltoallExecutorContract, RefusesRoutingThatDoesNotMatchTheInput) {
  model::ModelOptions options;
  options.owns_expert = owned_by(plan_, world_rank());
  model::Model model = model::Model::open(dir_, backend_, options);
  AlltoallExpertExecutor executor(MPI_COMM_WORLD, plan_);
  const backend::Routing three{.tokens = 3, .top_k = 1, .experts = {0, 1, 2}, .weights = {1, 1, 1}};
  // Checked before any collective, so every rank throws on its own.
  EXPECT_THROW(executor.run(model, 0, backend_.zeros({2, model.config().hidden_size}), three, nullptr), Error);
}

}  // namespace
}  // namespace moqa::dist
