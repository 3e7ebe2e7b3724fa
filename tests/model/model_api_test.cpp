// The layer-by-layer API later stages build on: errors for bad checkpoints, expert ownership with a
// pluggable executor, weight streaming and replacement, observers, chunked NLL and batching.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "model/expert_executor.h"
#include "model/forward.h"
#include "model/model.h"
#include "model/observer.h"
#include "model/synthetic_weights.h"
#include "model/test_checkpoints.h"
#include "support/test_support.h"

namespace moqa::model {
namespace {

using test::error_of;

std::filesystem::path arch_dir(const std::string& family) { return test::data_dir() / "arch" / family; }

TokenBatch golden_batch(const std::string& family) {
  const Tensor ids = io::SafetensorsFile::open(arch_dir(family) / "golden.safetensors").read("input_ids");
  TokenBatch batch{ids.dim(0), ids.dim(1), {}};
  for (float v : ids.data) batch.ids.push_back(static_cast<int32_t>(v));
  return batch;
}

double max_abs_difference(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape, b.shape);
  double worst = 0;
  for (int64_t i = 0; i < std::min(a.size(), b.size()); ++i)
    worst = std::max(worst, double(std::abs(a.data[i] - b.data[i])));
  return worst;
}

class ModelApiTest : public ::testing::Test {
 protected:
  backend::CpuBackend backend{backend::CpuOptions{.threads = 1}};
};

// ---- Checkpoint and config errors -------------------------------------------------------------------

TEST_F(ModelApiTest, MissingTensorNamesTheTensor) {
  auto tensors = testing::read_tensors(arch_dir("mixtral") / "model.safetensors");
  tensors.erase("model.layers.1.block_sparse_moe.experts.3.w2.weight");
  const auto dir = test::temp_dir("missing-tensor");
  testing::write_model_dir(dir, tensors, testing::read_json(arch_dir("mixtral") / "config.json"));
  const std::string message = error_of([&] { Model::open(dir, backend); });
  EXPECT_NE(message.find("model.layers.1.block_sparse_moe.experts.3.w2.weight"), std::string::npos) << message;
  EXPECT_NE(message.find(dir.string()), std::string::npos) << message;
}

TEST_F(ModelApiTest, MisShapedTensorNamesTheTensorAndBothShapes) {
  auto tensors = testing::read_tensors(arch_dir("qwen2_moe") / "model.safetensors");
  tensors["model.layers.0.self_attn.k_proj.bias"] = Tensor({16});
  const auto dir = test::temp_dir("misshaped-tensor");
  testing::write_model_dir(dir, tensors, testing::read_json(arch_dir("qwen2_moe") / "config.json"));
  const std::string message = error_of([&] { Model::open(dir, backend); });
  EXPECT_NE(message.find("model.layers.0.self_attn.k_proj.bias"), std::string::npos) << message;
  EXPECT_NE(message.find("[16]"), std::string::npos) << message;
  EXPECT_NE(message.find("[32]"), std::string::npos) << message;
}

TEST_F(ModelApiTest, UnsupportedConfigsAreRefusedClearly) {
  const auto tensors = testing::read_tensors(arch_dir("mixtral") / "model.safetensors");
  auto config = testing::read_json(arch_dir("mixtral") / "config.json");

  auto llama = config;
  llama["model_type"] = "llama";
  const auto dir1 = test::temp_dir("unsupported-type");
  testing::write_model_dir(dir1, tensors, llama);
  EXPECT_NE(error_of([&] { Model::open(dir1, backend); }).find("model_type"), std::string::npos);

  auto fp8 = config;
  fp8["quantization_config"] = {{"quant_method", "fp8"}};
  const auto dir2 = test::temp_dir("unsupported-fp8");
  testing::write_model_dir(dir2, tensors, fp8);
  EXPECT_NE(error_of([&] { Model::open(dir2, backend); }).find("pre-quantized"), std::string::npos);

  // Qwen's per-layer sliding windows are not modelled: windows longer than the span are refused.
  auto qwen = testing::read_json(arch_dir("qwen2_moe") / "config.json");
  qwen["use_sliding_window"] = true;
  qwen["sliding_window"] = 16;
  const auto dir3 = test::temp_dir("unsupported-window");
  testing::write_model_dir(dir3, testing::read_tensors(arch_dir("qwen2_moe") / "model.safetensors"), qwen);
  Model model = Model::open(dir3, backend);
  EXPECT_NE(error_of([&] { forward_logits(model, golden_batch("qwen2_moe")); }).find("sliding-window"),
            std::string::npos);
}

TEST_F(ModelApiTest, EveryCheckpointTensorIsUsedAndEveryNameIsFound) {
  for (const std::string family : {"mixtral", "qwen2_moe", "qwen3_moe", "olmoe", "deepseek_v3"}) {
    const ModelConfig config = load_hf_config(arch_dir(family) / "config.json");
    const auto reader = io::CheckpointReader::open(arch_dir(family));
    std::set<std::string> expected{embedding_name(), final_norm_name(), lm_head_name()};
    for (int64_t layer = 0; layer < config.num_layers; ++layer) {
      for (const LinearId& id : layer_linears(config, layer, true)) {
        expected.insert(weight_name(config, id));
        if (const auto bias = bias_name(config, id)) expected.insert(*bias);
        EXPECT_EQ(reader.entry(weight_name(config, id)).shape, weight_shape(config, id))
            << family << " " << to_string(id);
      }
      for (const Vector v : layer_vectors(config, layer)) expected.insert(vector_name(config, layer, v));
    }
    const auto names = reader.tensor_names();
    EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), expected) << family;
  }
}

TEST_F(ModelApiTest, TiedEmbeddingsServeAsLmHead) {
  auto tensors = testing::read_tensors(arch_dir("olmoe") / "model.safetensors");
  tensors["lm_head.weight"] = tensors.at("model.embed_tokens.weight");
  const auto untied_dir = test::temp_dir("untied");
  auto config = testing::read_json(arch_dir("olmoe") / "config.json");
  testing::write_model_dir(untied_dir, tensors, config);
  tensors.erase("lm_head.weight");
  config["tie_word_embeddings"] = true;
  const auto tied_dir = test::temp_dir("tied");
  testing::write_model_dir(tied_dir, tensors, config);
  Model untied = Model::open(untied_dir, backend), tied = Model::open(tied_dir, backend);
  const TokenBatch batch = golden_batch("olmoe");
  EXPECT_EQ(max_abs_difference(forward_logits(tied, batch), forward_logits(untied, batch)), 0.0);
}

// ---- Experts: ownership and a pluggable executor ----------------------------------------------------------

// Simulates two expert-parallel ranks in one process: each routed expert runs on the model that owns it.
class TwoOwnerExecutor final : public ExpertExecutor {
 public:
  TwoOwnerExecutor(Model& even, Model& odd) : even_(even), odd_(odd) {}
  backend::Array run(Model& model, int64_t layer, const backend::Array& x, const backend::Routing& routing,
                     ForwardObserver* observer) override {
    backend::Backend& b = model.backend();
    backend::Array out = b.zeros({x.rows(), x.cols()});
    const auto groups = backend::group_by_expert(routing, model.config().num_experts);
    for (int64_t e = 0; e < static_cast<int64_t>(groups.size()); ++e) {
      if (groups[e].tokens.empty()) continue;
      Model& owner = e % 2 == 0 ? even_ : odd_;
      const backend::Array y = owner.run_expert(layer, e, b.gather_rows(x, groups[e].tokens), observer);
      b.scatter_add_rows(out, y, groups[e].tokens, groups[e].weights);
      ++experts_run;
    }
    return out;
  }
  int experts_run = 0;

 private:
  Model& even_;
  Model& odd_;
};

TEST_F(ModelApiTest, ProcessesLoadOnlyOwnedExpertsAndAnExecutorCombinesThem) {
  const auto dir = arch_dir("qwen2_moe");
  Model full = Model::open(dir, backend);
  Model even = Model::open(dir, backend, {.owns_expert = [](int64_t, int64_t e) { return e % 2 == 0; }});
  Model odd = Model::open(dir, backend, {.owns_expert = [](int64_t, int64_t e) { return e % 2 == 1; }});
  EXPECT_TRUE(even.owns_expert(1, 4));
  EXPECT_FALSE(even.owns_expert(1, 5));
  EXPECT_NE(error_of([&] { even.weight({1, Linear::expert_down, 5}); }).find("not owned"), std::string::npos);

  const TokenBatch batch = golden_batch("qwen2_moe");
  EXPECT_NE(error_of([&] { forward_logits(even, batch); }).find("does not own"), std::string::npos);

  TwoOwnerExecutor executor(even, odd);
  const Tensor split = forward_logits(even, batch, {.experts = &executor});
  EXPECT_GT(executor.experts_run, 0);
  EXPECT_EQ(max_abs_difference(split, forward_logits(full, batch)), 0.0);
}

// ---- Weights: streaming and replacement ------------------------------------------------------------

// Runs `streamed` layer by layer over `batch`, checking that exactly the running layer is resident, and
// compares its logits with the resident model's.
void expect_streamed_run_equals_resident(Model& streamed, Model& resident, const TokenBatch& batch) {
  backend::Backend& backend = streamed.backend();
  HiddenStates h = streamed.embed(batch);
  for (int64_t layer = 0; layer < streamed.config().num_layers; ++layer) {
    streamed.forward_layer(layer, h);
    for (int64_t other = 0; other < streamed.config().num_layers; ++other)
      EXPECT_EQ(streamed.layer_resident(other), other == layer);
  }
  const Tensor logits = backend.download(streamed.logits(streamed.final_norm(h)));
  EXPECT_EQ(max_abs_difference(logits, forward_logits(resident, batch)), 0.0);
}

TEST_F(ModelApiTest, StreamingKeepsOneLayerResidentAndComputesTheSame) {
  const auto dir = arch_dir("deepseek_v3");
  Model resident = Model::open(dir, backend);
  Model streamed = Model::open(dir, backend, {.stream_weights = true});
  for (int64_t layer = 0; layer < streamed.config().num_layers; ++layer) EXPECT_FALSE(streamed.layer_resident(layer));
  expect_streamed_run_equals_resident(streamed, resident, golden_batch("deepseek_v3"));
}

// Reading layer L+1 on a second thread while L runs changes nothing computed, and a tensor the reading
// thread cannot find is reported when its layer is needed, naming it, like a plain load.
TEST_F(ModelApiTest, ReadingTheNextLayerAheadComputesTheSameAndReportsItsErrorsWhenThatLayerIsUsed) {
  const auto dir = arch_dir("deepseek_v3");
  Model resident = Model::open(dir, backend);
  Model ahead = Model::open(dir, backend, {.stream_weights = true, .read_ahead = true});
  const TokenBatch batch = golden_batch("deepseek_v3");
  expect_streamed_run_equals_resident(ahead, resident, batch);
  // Back to layer 0 (as an evaluation's second pass goes) and in order again.
  expect_streamed_run_equals_resident(ahead, resident, batch);

  auto tensors = testing::read_tensors(arch_dir("mixtral") / "model.safetensors");
  tensors.erase("model.layers.1.block_sparse_moe.experts.3.w2.weight");
  const auto broken = test::temp_dir("read-ahead-missing-tensor");
  testing::write_model_dir(broken, tensors, testing::read_json(arch_dir("mixtral") / "config.json"));
  Model model = Model::open(broken, backend, {.stream_weights = true, .read_ahead = true});
  HiddenStates states = model.embed(golden_batch("mixtral"));
  model.forward_layer(0, states);  // layer 1 is being read meanwhile, and fails
  const std::string message = error_of([&] { model.forward_layer(1, states); });
  EXPECT_NE(message.find("model.layers.1.block_sparse_moe.experts.3.w2.weight"), std::string::npos) << message;
}

TEST_F(ModelApiTest, SetWeightReplacesUntilTheLayerIsReleased) {
  Model model = Model::open(arch_dir("mixtral"), backend);
  const TokenBatch batch = golden_batch("mixtral");
  const Tensor original = forward_logits(model, batch);
  const LinearId id{1, Linear::expert_up, 2};

  const Tensor w = model.weight_tensor(id);
  model.set_weight(id, w);  // same values: same result
  EXPECT_EQ(max_abs_difference(forward_logits(model, batch), original), 0.0);

  model.set_weight(id, Tensor(w.shape));  // zeroed expert: different logits
  EXPECT_GT(max_abs_difference(forward_logits(model, batch), original), 1e-4);
  EXPECT_NE(error_of([&] { model.set_weight(id, Tensor({w.dim(1), w.dim(0)})); }).find("expected"), std::string::npos);

  model.release_layer(1);  // reloads from the checkpoint on next use
  EXPECT_EQ(max_abs_difference(forward_logits(model, batch), original), 0.0);
}

// ---- Observers ------------------------------------------------------------------------------------

class CountingObserver final : public ForwardObserver {
 public:
  void on_routing(const RoutingEvent& e) override {
    ++routings;
    routed_slots += e.routing.tokens * e.routing.top_k;
    EXPECT_EQ(e.router_logits.rows(), e.windows * e.seq_len);
    EXPECT_EQ(e.scores.cols(), e.router_logits.cols());
  }
  void on_expert_input(const ExpertInputEvent& e) override {
    expert_rows += static_cast<int64_t>(e.tokens.size());
    EXPECT_EQ(e.rows.rows(), static_cast<int64_t>(e.tokens.size()));
    EXPECT_EQ(e.weights.size(), e.tokens.size());
  }
  void on_linear_input(const LinearId& id, const backend::Array& input) override {
    linears.insert(to_string(id.is_routed_expert() ? LinearId{id.layer, id.kind, 0} : id));
    EXPECT_GT(input.rows(), 0);
  }
  int routings = 0;
  int64_t routed_slots = 0, expert_rows = 0;
  std::set<std::string> linears;
};

TEST_F(ModelApiTest, ObserverSeesRoutingExpertRowsAndEveryLinearInput) {
  for (const std::string family : {"qwen2_moe", "deepseek_v3"}) {
    Model model = Model::open(arch_dir(family), backend);
    CountingObserver observer;
    forward_logits(model, golden_batch(family), {.observer = &observer});
    const ModelConfig& c = model.config();
    EXPECT_EQ(observer.routings, c.num_moe_layers()) << family;
    EXPECT_EQ(observer.routed_slots, c.num_moe_layers() * 96 * c.top_k) << family;
    EXPECT_EQ(observer.expert_rows, observer.routed_slots) << family;
    std::set<std::string> expected;
    for (int64_t layer = 0; layer < c.num_layers; ++layer)
      for (const LinearId& id : layer_linears(c, layer, true))
        if (id.expert <= 0) expected.insert(to_string(id));
    EXPECT_EQ(observer.linears, expected) << family;
  }
}

// With two threads the CPU backend runs a layer's experts concurrently; observers still hear about one
// expert at a time, in ascending order, each as input rows, gate, up, down, output.
class ExpertEventLog final : public ForwardObserver {
 public:
  void on_expert_input(const ExpertInputEvent& e) override { events.push_back(cat(e.layer, ".", e.expert, " in")); }
  void on_linear_input(const LinearId& id, const backend::Array&) override {
    if (id.is_routed_expert()) events.push_back(cat(id.layer, ".", id.expert, " ", linear_name(id.kind)));
  }
  void on_expert_output(const ExpertOutputEvent& e) override { events.push_back(cat(e.layer, ".", e.expert, " out")); }
  std::vector<std::string> events;
};

TEST_F(ModelApiTest, ObserverHearsConcurrentExpertsOneAtATimeInExpertOrder) {
  backend::CpuBackend two(backend::CpuOptions{.threads = 2});
  Model model = Model::open(arch_dir("qwen2_moe"), two);
  ExpertEventLog log;
  forward_logits(model, golden_batch("qwen2_moe"), {.observer = &log});
  ASSERT_FALSE(log.events.empty());
  ASSERT_EQ(log.events.size() % 5, 0u);
  std::vector<std::string> expected;
  int64_t previous_layer = -1, previous_expert = -1;
  for (size_t i = 0; i < log.events.size(); i += 5) {
    const std::string& first = log.events[i];
    const std::string who = first.substr(0, first.find(' '));
    const int64_t layer = std::stoll(who.substr(0, who.find('.'))), expert = std::stoll(who.substr(who.find('.') + 1));
    EXPECT_TRUE(layer > previous_layer || (layer == previous_layer && expert > previous_expert)) << who;
    previous_layer = layer;
    previous_expert = expert;
    for (const char* event : {" in", " expert_gate", " expert_up", " expert_down", " out"})
      expected.push_back(who + event);
  }
  EXPECT_EQ(log.events, expected);
  backend::CpuBackend restore(backend::CpuOptions{.threads = 1});  // OpenBLAS's count is process-wide
}

// ---- Loss and batching ----------------------------------------------------------------------------

TEST_F(ModelApiTest, ChunkedTokenNllEqualsNllOfFullLogits) {
  Model model = Model::open(arch_dir("olmoe"), backend, {.logits_chunk_rows = 7});
  const TokenBatch batch = golden_batch("olmoe");
  HiddenStates h = model.embed(batch);
  for (int64_t layer = 0; layer < model.config().num_layers; ++layer) model.forward_layer(layer, h);
  const backend::Array normed = model.final_norm(h);
  std::vector<int32_t> rows, targets;
  for (int32_t r = 0; r < 96; r += 3) {
    rows.push_back(r);
    targets.push_back((r * 37) % 512);
  }
  const std::vector<float> chunked = model.token_nll(normed, rows, targets);
  const std::vector<float> full = backend.nll(backend.gather_rows(model.logits(normed), rows), targets);
  ASSERT_EQ(chunked.size(), full.size());
  for (size_t i = 0; i < full.size(); ++i) EXPECT_FLOAT_EQ(chunked[i], full[i]);
}

TEST_F(ModelApiTest, WindowsInABatchAreIndependentAndLayerMajorEqualsBatchMajor) {
  Model model = Model::open(arch_dir("qwen3_moe"), backend);
  const TokenBatch both = golden_batch("qwen3_moe");
  const Tensor together = forward_logits(model, both);
  // Layer-major over a store that keeps both windows in memory, and over one that spills all but the first
  // (budget of one window) to its scratch file: the same logits, bit for bit.
  const int64_t window_bytes = 48 * model.config().hidden_size * static_cast<int64_t>(sizeof(float));
  HiddenStateStore in_memory(backend, HiddenSpill{});
  HiddenStateStore spilled(backend, window_bytes, test::temp_dir("layer-major-spill") / "hidden.scratch");
  for (int64_t w = 0; w < 2; ++w) {
    TokenBatch one{1, 48, std::vector<int32_t>(both.ids.begin() + w * 48, both.ids.begin() + (w + 1) * 48)};
    const Tensor alone = forward_logits(model, one);
    for (int64_t i = 0; i < alone.size(); ++i) EXPECT_NEAR(alone.data[i], together.data[w * alone.size() + i], 1e-5);
    in_memory.add(model.embed(one));
    spilled.add(model.embed(one));
  }
  EXPECT_EQ(spilled.bytes_in_memory(), window_bytes);
  EXPECT_EQ(spilled.bytes_spilled(), window_bytes);
  forward_layers_layer_major(model, in_memory);
  forward_layers_layer_major(model, spilled);
  for (int64_t w = 0; w < 2; ++w) {
    const Tensor logits = backend.download(model.logits(model.final_norm(in_memory.take(static_cast<size_t>(w)))));
    for (int64_t i = 0; i < logits.size(); ++i) EXPECT_NEAR(logits.data[i], together.data[w * logits.size() + i], 1e-5);
    const Tensor from_file = backend.download(model.logits(model.final_norm(spilled.take(static_cast<size_t>(w)))));
    EXPECT_EQ(from_file.data, logits.data) << "window " << w;
  }
  TokenBatch bad = both;
  bad.ids.pop_back();
  EXPECT_THROW(model.embed(bad), Error);
}

TEST_F(ModelApiTest, SyntheticMixtralShapedModelRunsWithoutACheckpoint) {
  const MixtralShape shape{.layers = 2, .hidden = 64, .expert_ffn = 96, .experts = 4, .top_k = 2, .heads = 4,
                           .kv_heads = 2, .vocab = 100};
  Model a(mixtral_config(shape), std::make_shared<SyntheticWeights>(3), backend);
  Model b(mixtral_config(shape), std::make_shared<SyntheticWeights>(3), backend, {.stream_weights = true});
  TokenBatch batch{2, 16, std::vector<int32_t>(32)};
  for (size_t i = 0; i < batch.ids.size(); ++i) batch.ids[i] = static_cast<int32_t>(i * 7 % 100);
  const Tensor logits = forward_logits(a, batch);
  EXPECT_EQ(logits.shape, (Shape{32, 100}));
  EXPECT_EQ(max_abs_difference(logits, forward_logits(b, batch)), 0.0);  // same seed, same weights
  for (float v : logits.data) ASSERT_TRUE(std::isfinite(v));
}

// A rank without windows computes nothing; windows of one token each attend only to themselves.
TEST_F(ModelApiTest, ZeroWindowAndSingleTokenBatchesRun) {
  const MixtralShape shape{.layers = 2, .hidden = 64, .expert_ffn = 96, .experts = 4, .top_k = 2, .heads = 4,
                           .kv_heads = 2, .vocab = 100};
  Model model(mixtral_config(shape), std::make_shared<SyntheticWeights>(5), backend);
  EXPECT_EQ(forward_logits(model, random_token_batch(0, 8, shape.vocab, 1)).shape, (Shape{0, 100}));

  const TokenBatch singles = random_token_batch(3, 1, shape.vocab, 2);
  const Tensor together = forward_logits(model, singles);
  ASSERT_EQ(together.shape, (Shape{3, 100}));
  EXPECT_TRUE(next_token_targets(singles).rows.empty());  // no position has a next token
  for (int64_t w = 0; w < 3; ++w) {
    const Tensor alone = forward_logits(model, TokenBatch{1, 1, {singles.ids[static_cast<size_t>(w)]}});
    for (int64_t i = 0; i < 100; ++i) EXPECT_NEAR(alone.data[i], together.data[w * 100 + i], 1e-5);
  }
}

TEST(NextTokenTargetsTest, EveryPositionButEachWindowsLastPredictsItsSuccessor) {
  const TokenBatch batch{2, 3, {10, 11, 12, 20, 21, 22}};
  const NextTokenTargets t = next_token_targets(batch);
  EXPECT_EQ(t.rows, (std::vector<int32_t>{0, 1, 3, 4}));
  EXPECT_EQ(t.targets, (std::vector<int32_t>{11, 12, 21, 22}));
  EXPECT_THROW(next_token_targets(TokenBatch{2, 3, {1, 2}}), Error);
}

}  // namespace
}  // namespace moqa::model
