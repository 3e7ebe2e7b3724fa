// The quantize stage's parts in one process (MPI_COMM_SELF): the sequential protocol against a
// straightforward reference written here, the quantization plan (keep_full_precision, widths, ranks), the
// weight source the quantized model is built from, channel adjustment in the pass, the RTN path and the
// budgeted error profile against output errors computed directly from the calibration inputs.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "allocate/allocation.h"
#include "config/diagnostics.h"
#include "config/load.h"
#include "core/error.h"
#include "data/random.h"
#include "model/observer.h"
#include "pipeline/allocate/allocation_options.h"
#include "pipeline/allocate/error_profile.h"
#include "pipeline/channel_adjustment.h"
#include "pipeline/quantize/quantizer.h"
#include "quant/channel_cache.h"
#include "quant/gptq.h"
#include "quant/output_error.h"
#include "quant/rtn.h"
#include "quantize_test_support.h"

namespace moqa::pipeline {
namespace {

using namespace testing;
using config::WeightGroup;

// ------------------------------------------------------------------------------------------------------
// A reference for GPTQ's sequential protocol with nothing distributed: one model holding every expert,
// every linear's inputs accumulated where the model reports them, each tensor quantized on its own.

// Serves the replaced tensors, the checkpoint for the rest.
class OverlayWeights final : public model::WeightSource {
 public:
  explicit OverlayWeights(const std::filesystem::path& dir) : base_(dir) {}
  std::map<std::string, Tensor> replaced;
  bool contains(const std::string& name) const override { return replaced.count(name) || base_.contains(name); }
  Tensor load(const std::string& name, const Shape& shape) const override {
    const auto it = replaced.find(name);
    return it != replaced.end() ? it->second : base_.load(name, shape);
  }
  std::string describe() const override { return "overlay"; }
  const model::CheckpointWeights& base() const { return base_; }

 private:
  model::CheckpointWeights base_;
};

class EveryLinearInput final : public model::ForwardObserver {
 public:
  EveryLinearInput(backend::Backend& backend, const ModelConfig& config) : backend_(backend), config_(config) {}
  std::map<std::string, quant::HessianSum> sums;
  void on_linear_input(const model::LinearId& id, const backend::Array& input) override {
    const std::string name = model::weight_name(config_, id);
    auto it = sums.find(name);
    if (it == sums.end()) it = sums.emplace(name, quant::make_hessian_sum(input.cols())).first;
    quant::accumulate(it->second, backend_.download(input));
  }

 private:
  backend::Backend& backend_;
  const ModelConfig& config_;
};

quant::QuantizedMatrix reference_gptq(const Tensor& w, const quant::HessianSum& sum, int bits,
                                      const config::Experiment& e, const std::string& name) {
  const quant::QuantSpec spec{
      .bits = bits,
      .group_size = e.quantization.group_size,
      .symmetric = e.quantization.symmetric,
      .scale_dtype = e.quantization.scale_dtype};
  if (sum.samples == 0) return quant::quantize_rtn(w, spec, name);
  return quant::quantize_gptq(w, quant::normalized_hessian(sum), spec, quantizer_settings(e.quantization).gptq, name)
      .matrix;
}

// What the reference also reports with cached channels (docs/QUANTIZATION.md §5), per routed expert matrix:
// the weights served (codes, with the cached entries exact inside GPTQ: the columns' final GPTQ values, the
// rows' original ones) and the output errors tr(dW H dW^T) on its calibration inputs of that and of the
// overwrite-after variant (plain GPTQ, cached entries replaced by the originals afterwards).
struct ReferenceCache {
  std::map<std::string, Tensor> served;
  std::map<std::string, std::pair<double, double>> error;  // name -> (exact inside, overwritten after)
};

// sequential = false: every layer's Hessians from the full-precision model (no quantized prefix).
// e.quantization.true_sequential: inside a layer, each sequential_step's Hessians from a forward with the
// earlier steps' tensors quantized. channels: routed experts' cached hidden channels (gate/up columns, down
// rows), kept exact inside GPTQ and served from the cache, as the pass does; results in *cache.
std::map<std::string, quant::QuantizedMatrix> reference_quantization(const config::Experiment& e,
                                                                     const allocate::BitMatrix& bits,
                                                                     int64_t batch_windows, bool sequential,
                                                                     const ChannelSets* channels = nullptr,
                                                                     ReferenceCache* cache = nullptr) {
  const ModelConfig config = load_hf_config(e.model.path / "config.json");
  const QuantizationPlan plan = plan_quantization(config, e, bits, dist::make_shard_plan(config, 1));
  auto weights = std::make_shared<OverlayWeights>(e.model.path);
  std::map<std::string, quant::QuantizedMatrix> out;
  if (const QuantTarget* t = plan.find(TensorKind::embedding)) {
    const Tensor w = weights->base().load(t->name, t->shape);
    out[t->name] = quant::quantize_rtn(
        w,
        {.bits = t->bits,
         .group_size = e.quantization.group_size,
         .symmetric = e.quantization.symmetric,
         .scale_dtype = e.quantization.scale_dtype},
        t->name);
    weights->replaced[t->name] = quant::dequantize(out[t->name]);
  }
  backend::CpuBackend backend(backend::CpuOptions{.threads = 1});
  model::Model model(config, weights, backend);
  std::vector<model::HiddenStates> batches;
  for (const analysis::DistributionSample& s : token_samples()) {
    const auto windows = static_cast<int64_t>(s.window_starts.size());
    for (int64_t first = 0; first < windows; first += batch_windows) {
      model::TokenBatch batch{.windows = std::min(batch_windows, windows - first), .seq_len = s.seq_len, .ids = {}};
      for (int64_t w = first; w < first + batch.windows; ++w) {
        const auto start = s.tokens.begin() + s.window_starts[static_cast<size_t>(w)];
        batch.ids.insert(batch.ids.end(), start, start + s.seq_len);
      }
      batches.push_back(model.embed(batch));
    }
  }
  std::vector<std::pair<model::LinearId, Tensor>> deferred;  // non-sequential: applied at the end
  for (int64_t layer = 0; layer < config.num_layers; ++layer) {
    const std::vector<size_t> targets = plan.targets_of_layer(layer);
    for (int step = 0; step < 5; ++step) {
      std::vector<size_t> now;
      for (const size_t i : targets)
        if (!e.quantization.true_sequential || sequential_step(plan.targets[i].input) == step) now.push_back(i);
      if (now.empty()) continue;
      EveryLinearInput inputs(backend, config);
      for (const model::HiddenStates& h : batches) {
        model::HiddenStates copy{h.windows, h.seq_len, backend.copy(h.values)};
        model.forward_layer(layer, copy, {.experts = nullptr, .observer = &inputs});
      }
      for (const size_t i : now) {
        const QuantTarget& t = plan.targets[i];
        const Tensor w = weights->base().load(t.name, t.shape);
        const std::vector<int64_t>* cached =
            channels && t.is_routed_expert()
                ? &channels->at(static_cast<size_t>(t.moe_index)).at(static_cast<size_t>(t.id.expert))
                : nullptr;
        Tensor served;
        if (cached == nullptr || inputs.sums.at(t.name).samples == 0) {
          out[t.name] = reference_gptq(w, inputs.sums.at(t.name), t.bits, e, t.name);
          served = quant::dequantize(out[t.name]);
          if (cached) quant::apply_channel_cache(served, expert_channel_cache(t, w, *cached));
        } else {
          const bool down = t.id.kind == model::Linear::expert_down;
          const quant::GptqExact exact{.columns = down ? std::vector<int64_t>{} : *cached,
                                       .rows = down ? *cached : std::vector<int64_t>{}};
          const quant::QuantSpec spec{.bits = t.bits, .group_size = e.quantization.group_size,
                                      .symmetric = e.quantization.symmetric,
                                      .scale_dtype = e.quantization.scale_dtype};
          const quant::Hessian h = quant::normalized_hessian(inputs.sums.at(t.name));
          quant::GptqResult result =
              quant::quantize_gptq(w, h, spec, quantizer_settings(e.quantization).gptq, t.name, exact);
          out[t.name] = result.matrix;
          served = quant::dequantize(result.matrix);
          const auto k = exact.columns.size();
          for (int64_t r = 0; r < t.shape[0]; ++r)  // exact columns: GPTQ's final values
            for (size_t j = 0; j < k; ++j)
              served.data[static_cast<size_t>(r * t.shape[1] + exact.columns[j])] =
                  result.exact_column_values[static_cast<size_t>(r) * k + j];
          for (const int64_t r : exact.rows)  // exact rows: untouched by GPTQ, the originals
            for (int64_t c = 0; c < t.shape[1]; ++c)
              served.data[static_cast<size_t>(r * t.shape[1] + c)] = w.data[static_cast<size_t>(r * t.shape[1] + c)];
          if (cache) {
            Tensor overwritten = quant::dequantize(reference_gptq(w, inputs.sums.at(t.name), t.bits, e, t.name));
            quant::apply_channel_cache(overwritten, expert_channel_cache(t, w, *cached));
            cache->error[t.name] = {quant::output_error(w, served, h, t.name),
                                    quant::output_error(w, overwritten, h, t.name)};
          }
        }
        if (cache && cached) cache->served[t.name] = served;
        if (sequential)
          model.set_weight(t.id, std::move(served));
        else
          deferred.emplace_back(t.id, std::move(served));
      }
      if (!e.quantization.true_sequential) break;
    }
    for (model::HiddenStates& h : batches) model.forward_layer(layer, h);
  }
  for (const auto& [id, values] : deferred) model.set_weight(id, values);
  if (const QuantTarget* t = plan.find(TensorKind::lm_head)) {
    quant::HessianSum sum = quant::make_hessian_sum(t->shape.at(1));
    for (const model::HiddenStates& h : batches) quant::accumulate(sum, backend.download(model.final_norm(h)));
    out[t->name] = reference_gptq(weights->base().load(t->name, t->shape), sum, t->bits, e, t->name);
  }
  return out;
}

void expect_same_as_reference(const Quantized& ours, const std::map<std::string, quant::QuantizedMatrix>& reference) {
  ASSERT_EQ(ours.store->entries().size(), reference.size());
  for (const auto& [name, matrix] : reference) {
    const QuantizedWeights::Entry* entry = ours.store->entry(name);
    ASSERT_NE(entry, nullptr) << name;
    expect_same_matrix(*entry->matrix, matrix, name);
  }
}

class QuantizeSequential : public ::testing::TestWithParam<std::string> {};

TEST_P(QuantizeSequential, MatchesAStraightforwardReference) {
  config::Experiment e = experiment_for(GetParam(), config::QuantMethod::gptq, {});
  e.quantization.act_order = GetParam() == "qwen2_moe";
  const ModelConfig config = load_hf_config(e.model.path / "config.json");
  const allocate::BitMatrix bits = mixed_bits(config);
  const Quantized ours = quantize_model(e, bits, MPI_COMM_SELF, 2);
  const auto reference = reference_quantization(e, bits, 2, /*sequential=*/true);
  expect_same_as_reference(ours, reference);
}

// True-sequential: every step's tensors see the layer's earlier steps quantized; with every linear
// quantized (experiment_for keeps nothing) all five steps occur, MLA's latents included.
TEST_P(QuantizeSequential, TrueSequentialMatchesAStraightforwardReference) {
  config::Experiment e = experiment_for(GetParam(), config::QuantMethod::gptq, {});
  e.quantization.true_sequential = true;
  const ModelConfig config = load_hf_config(e.model.path / "config.json");
  const allocate::BitMatrix bits = mixed_bits(config);
  const Quantized ours = quantize_model(e, bits, MPI_COMM_SELF, 2);
  const auto reference = reference_quantization(e, bits, 2, /*sequential=*/true);
  expect_same_as_reference(ours, reference);
  // Against the one-pass protocol: layer 0's first step (the attention input) reads the same inputs,
  // its later steps do not.
  e.quantization.true_sequential = false;
  const Quantized one_pass = quantize_model(e, bits, MPI_COMM_SELF, 2);
  int64_t later = 0, later_different = 0;
  for (const QuantTarget& t : ours.plan.targets) {
    if (t.kind != TensorKind::linear || t.id.layer != 0) continue;
    const bool same = ours.store->entry(t.name)->matrix->packed == one_pass.store->entry(t.name)->matrix->packed;
    if (sequential_step(t.input) == 0) {
      EXPECT_TRUE(same) << t.name;
    } else {
      ++later;
      later_different += same ? 0 : 1;
    }
  }
  EXPECT_GT(later, 0);
  EXPECT_GE(later_different, later / 2) << later_different << " of " << later << " layer-0 tensors differ";
}

TEST_P(QuantizeSequential, LaterLayersSeeTheQuantizedPrefix) {
  const config::Experiment e = experiment_for(GetParam(), config::QuantMethod::gptq, {});
  const ModelConfig config = load_hf_config(e.model.path / "config.json");
  const allocate::BitMatrix bits = mixed_bits(config);
  const Quantized ours = quantize_model(e, bits, MPI_COMM_SELF, 2);
  const auto full_precision_inputs = reference_quantization(e, bits, 2, /*sequential=*/false);
  // Layer 0 reads the (RTN) embeddings either way; every later tensor's Hessian differs.
  int64_t later = 0, later_different = 0;
  for (const QuantTarget& t : ours.plan.targets) {
    const quant::QuantizedMatrix& a = *ours.store->entry(t.name)->matrix;
    const quant::QuantizedMatrix& b = full_precision_inputs.at(t.name);
    if (t.kind == TensorKind::embedding || (t.kind == TensorKind::linear && t.id.layer == 0)) {
      expect_same_matrix(a, b, t.name);
    } else {
      ++later;
      later_different += a.packed != b.packed ? 1 : 0;
    }
  }
  EXPECT_GT(later, 0);
  EXPECT_GE(later_different, later / 2) << later_different << " of " << later << " later tensors differ";
}

INSTANTIATE_TEST_SUITE_P(Families, QuantizeSequential, ::testing::Values("mixtral", "qwen2_moe", "deepseek_v3"));

// ------------------------------------------------------------------------------------------------------
// The plan: what is quantized, at which width, by whom.

std::set<WeightGroup> planned_groups(const QuantizationPlan& plan) {
  std::set<WeightGroup> out;
  for (const QuantTarget& t : plan.targets) out.insert(t.group);
  return out;
}

TEST(QuantizationPlan, DefaultsQuantizeOnlyTheRoutedExperts) {
  const config::Experiment e =
      experiment_for("qwen2_moe", config::QuantMethod::gptq, config::QuantizationSection{}.keep_full_precision);
  const ModelConfig config = load_hf_config(e.model.path / "config.json");
  const allocate::BitMatrix bits = mixed_bits(config);
  const dist::ShardPlan shard = dist::make_shard_plan(config, 3);
  const QuantizationPlan plan = plan_quantization(config, e, bits, shard);
  EXPECT_EQ(planned_groups(plan), (std::set<WeightGroup>{WeightGroup::experts}));
  EXPECT_EQ(plan.targets.size(), static_cast<size_t>(config.num_moe_layers() * config.num_experts * 3));
  for (const QuantTarget& t : plan.targets) {
    EXPECT_EQ(t.bits, bits[static_cast<size_t>(t.moe_index)][static_cast<size_t>(t.id.expert)]) << t.name;
    EXPECT_EQ(t.quantizer, shard.owner(t.id.layer, t.id.expert)) << t.name;
    EXPECT_EQ(t.shape, model::weight_shape(config, t.id));
  }
}

TEST(QuantizationPlan, EmptyKeepListQuantizesEveryCategory) {
  const config::Experiment e = experiment_for("deepseek_v3", config::QuantMethod::gptq, {});
  const ModelConfig config = load_hf_config(e.model.path / "config.json");
  const QuantizationPlan plan = plan_quantization(config, e, mixed_bits(config), dist::make_shard_plan(config, 4));
  EXPECT_EQ(planned_groups(plan),
            (std::set<WeightGroup>{WeightGroup::experts, WeightGroup::shared_experts, WeightGroup::attention,
                                   WeightGroup::router, WeightGroup::dense_layers, WeightGroup::embeddings,
                                   WeightGroup::lm_head}));
  EXPECT_EQ(plan.non_expert_bits, 4);  // target 3 on {2, 4, 6, 8}: the tie goes to the wider width
  ASSERT_NE(plan.find(TensorKind::embedding), nullptr);
  ASSERT_NE(plan.find(TensorKind::lm_head), nullptr);
  EXPECT_EQ(plan.targets.front().kind, TensorKind::embedding);
  EXPECT_EQ(plan.targets.back().kind, TensorKind::lm_head);
  // Linears of one layer reading the same input share their quantizer; the groups are dealt round-robin.
  std::map<std::pair<int64_t, InputGroup>, std::set<int>> ranks;
  std::set<int> used;
  for (const QuantTarget& t : plan.targets) {
    EXPECT_EQ(t.shape[1] % 16, 0) << t.name;
    if (t.is_routed_expert()) continue;
    EXPECT_EQ(t.bits, 4) << t.name;
    ranks[{t.kind == TensorKind::linear ? t.id.layer : -1, t.input}].insert(t.quantizer);
    used.insert(t.quantizer);
  }
  for (const auto& [group, r] : ranks) EXPECT_EQ(r.size(), 1u) << input_group_name(group.second);
  EXPECT_EQ(used, (std::set<int>{0, 1, 2, 3}));
  EXPECT_NO_THROW(check_group_sizes(plan, 16));
  try {
    check_group_sizes(plan, 32);
    FAIL() << "group size 32 does not divide kv_b's 16 columns";
  } catch (const moqa::Error& error) {
    EXPECT_NE(std::string(error.what())
                  .find("quantization.group_size = 32 does not divide the 16 input columns of "
                        "model.layers.0.self_attn.kv_b_proj.weight"),
              std::string::npos)
        << error.what();
  }
}

TEST(QuantizationPlan, KeepListsSelectCategories) {
  const config::Experiment e =
      experiment_for("qwen2_moe", config::QuantMethod::rtn, {WeightGroup::attention, WeightGroup::lm_head});
  const ModelConfig config = load_hf_config(e.model.path / "config.json");
  const QuantizationPlan plan = plan_quantization(config, e, mixed_bits(config), dist::make_shard_plan(config, 1));
  EXPECT_EQ(planned_groups(plan), (std::set<WeightGroup>{WeightGroup::experts, WeightGroup::shared_experts,
                                                         WeightGroup::router, WeightGroup::embeddings}));
  ASSERT_NE(plan.find("model.layers.1.mlp.shared_expert_gate.weight"), nullptr);
  EXPECT_EQ(plan.find("model.layers.1.mlp.shared_expert_gate.weight")->group, WeightGroup::shared_experts);
  EXPECT_EQ(plan.find(TensorKind::lm_head), nullptr);
}

TEST(QuantizationPlan, TiedEmbeddingsFollowTheEmbeddingCategory) {
  ModelConfig config = load_hf_config(arch_dir("mixtral") / "config.json");
  config.tie_word_embeddings = true;
  const config::Experiment e = experiment_for("mixtral", config::QuantMethod::rtn, {WeightGroup::attention});
  const QuantizationPlan plan = plan_quantization(config, e, mixed_bits(config), dist::make_shard_plan(config, 1));
  EXPECT_NE(plan.find(TensorKind::embedding), nullptr);
  EXPECT_EQ(plan.find(TensorKind::lm_head), nullptr);
  config::Experiment all_counted = e;
  all_counted.allocation.count_in_average = {WeightGroup::experts, WeightGroup::lm_head};
  const auto groups = other_weight_groups(config, all_counted);
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].name, "lm_head");
  EXPECT_EQ(groups[0].bits, 4);  // the tied table is quantized with the embeddings
}

TEST(QuantizationPlan, NonExpertWidthAndOtherWeights) {
  config::AllocationSection a;
  a.method = config::AllocationMethod::uniform;
  a.target_bits = 3;
  EXPECT_EQ(non_expert_bits(a), 3);
  a.method = config::AllocationMethod::moqa;
  EXPECT_EQ(non_expert_bits(a), 4);
  a.target_bits = 2.5;
  EXPECT_EQ(non_expert_bits(a), 2);
  a.target_bits = 5;
  EXPECT_EQ(non_expert_bits(a), 6);
  a.candidate_bits = {2, 3, 4};
  a.target_bits = 3.4;
  EXPECT_EQ(non_expert_bits(a), 3);

  const ModelConfig config = load_hf_config(arch_dir("deepseek_v3") / "config.json");
  config::Experiment e = experiment_for("deepseek_v3", config::QuantMethod::gptq, {WeightGroup::attention});
  const auto groups = other_weight_groups(config, e);  // count_in_average default: no lm_head, no embeddings
  std::map<std::string, allocate::WeightGroup> by_name;
  for (const auto& g : groups) by_name[g.name] = g;
  ASSERT_EQ(by_name.size(), 4u);
  int64_t attention = 0, dense = 0;
  for (int64_t layer = 0; layer < config.num_layers; ++layer)
    for (const model::LinearId& id : model::layer_linears(config, layer, false)) {
      const int64_t n = element_count(model::weight_shape(config, id));
      if (weight_group_of(id.kind) == WeightGroup::attention) attention += n;
      if (weight_group_of(id.kind) == WeightGroup::dense_layers) dense += n;
    }
  EXPECT_EQ(by_name["attention"].params, attention);
  EXPECT_EQ(by_name["attention"].bits, 16);
  EXPECT_EQ(by_name["dense_layers"].params, dense);
  EXPECT_EQ(by_name["dense_layers"].bits, 4);
  EXPECT_EQ(by_name["router"].params, config.num_experts * config.hidden_size);
  EXPECT_EQ(by_name["shared_experts"].bits, 4);
}

TEST(AllocationOptions, EveryKeyIsMapped) {
  config::Experiment e = experiment_for("mixtral", config::QuantMethod::gptq, {});
  e.experiment.seed = 7;
  config::AllocationSection& a = e.allocation;
  a.method = config::AllocationMethod::moqa_v1;
  a.scope = config::AllocationScope::global;
  a.candidate_bits = {2, 3, 8};
  a.target_bits = 2.75;
  a.budget_counts_all_linear = true;
  a.correlation_weight = 0.4;
  e.analysis.fit = config::SignificanceFit::mean_var;
  e.analysis.fit_std_weight = 0.5;
  a.fcm_clusters = 3;
  a.fcm_m = 1.5;
  a.fcm_tolerance = 1e-4;
  a.fcm_max_iterations = 50;
  a.fcm_restarts = 2;
  a.overlap_margin = 0.2;
  a.enforce_budget = true;
  a.v1_threshold_mode = config::ThresholdMode::quantile;
  a.v1_threshold = 0.75;
  a.v1_high_bits = 8;
  a.v1_low_bits = 2;
  a.v1_coactivation = true;
  a.v1_coactivation_threshold = 0.3;
  a.frequency_fill = config::FrequencyFill::depth;
  a.max_dp_cells = 1000;
  const allocate::AllocationOptions o = allocation_options(e);
  EXPECT_EQ(o.method, allocate::Method::moqa_v1);
  EXPECT_EQ(o.scope, allocate::Scope::global);
  EXPECT_EQ(o.candidate_bits, (std::vector<int>{2, 3, 8}));
  EXPECT_EQ(o.target_bits, 2.75);
  EXPECT_TRUE(o.budget_counts_all_linear);
  EXPECT_EQ(o.significance_std_weight, 0.5);
  EXPECT_EQ(o.correlation_weight, 0.4);
  EXPECT_EQ(o.uniform_bits, 0);
  EXPECT_EQ(o.fcm.clusters, 3);
  EXPECT_EQ(o.fcm.fuzzifier, 1.5);
  EXPECT_EQ(o.fcm.tolerance, 1e-4);
  EXPECT_EQ(o.fcm.max_iterations, 50);
  EXPECT_EQ(o.fcm.restarts, 2);
  EXPECT_EQ(o.fcm.seed, data::derive_seed(7, "allocation/fcm"));
  EXPECT_EQ(o.overlap_margin, 0.2);
  EXPECT_TRUE(o.enforce_budget);
  EXPECT_EQ(o.threshold_mode, allocate::ThresholdMode::quantile);
  EXPECT_EQ(o.threshold, 0.75);
  EXPECT_EQ(o.high_bits, 8);
  EXPECT_EQ(o.low_bits, 2);
  EXPECT_TRUE(o.coactivation_shaping);
  EXPECT_EQ(o.coactivation_threshold, 0.3);
  EXPECT_EQ(o.frequency_fill, allocate::FrequencyFill::depth);
  EXPECT_EQ(o.max_dp_cells, 1000);
  EXPECT_NO_THROW(allocate::validate(o));
  a.method = config::AllocationMethod::uniform;
  a.target_bits = 3;
  EXPECT_EQ(allocation_options(e).uniform_bits, 3);
  // Eq. 2's one knob: the weight only acts with fit = "mean_var"; stage 3 off leaves no correlation to read.
  e.analysis.fit = config::SignificanceFit::mean;
  EXPECT_EQ(allocation_options(e).significance_std_weight, 0.0);
  e.analysis.correlation = false;
  EXPECT_EQ(allocation_options(e).correlation_weight, 0.0);
  e.analysis.correlation = true;
  EXPECT_EQ(channel_plan_options(e.analysis).fraction, 0.01);
  EXPECT_EQ(channel_plan_options(e.analysis).measure, allocate::ChannelChangeMeasure::variance);
}

TEST(QuantizeConfig, ChannelAdjustmentNeedsTwoCalibratedDistributions) {
  const std::string head =
      "[experiment]\nname = \"x\"\nstages = [\"calibrate\", \"allocate\", \"quantize\"]\n"
      "[model]\npath = \"" +
      arch_dir("mixtral").string() + "\"\ntokenizer = \"bytes\"\n";
  const std::string one = "[[calibration]]\nname = \"a\"\npath = \"a.txt\"\n";
  const std::string two = one + "[[calibration]]\nname = \"b\"\npath = \"a.txt\"\n";
  const std::string adjust = "[quantization]\nchannel_adjustment = true\n";
  config::ParseOptions options;
  options.check_paths = false;
  const std::filesystem::path file = "/tmp/x.toml";
  EXPECT_NO_THROW(config::parse_experiment(head + two + adjust, file, options));
  try {
    config::parse_experiment(head + one + adjust, file, options);
    FAIL() << "one distribution has no cross-distribution change";
  } catch (const config::ConfigError& e) {
    EXPECT_NE(
        std::string(e.what()).find("/tmp/x.toml:11:22: quantization.channel_adjustment: found \"reallocate\" with 1 "
                                   "[[calibration]] table(s), expected the \"calibrate\" stage over at least two"),
        std::string::npos)
        << e.what();
  }
  std::string no_calibrate = head + two + adjust;
  no_calibrate.replace(no_calibrate.find("\"calibrate\", "), 13, "");
  EXPECT_THROW(config::parse_experiment(no_calibrate, file, options), config::ConfigError);
}

// ------------------------------------------------------------------------------------------------------
// The weight source of the quantized model.

TEST(QuantizedWeights, ServesQuantizedTensorsAndPassesTheRestThrough) {
  const auto dir = arch_dir("mixtral");
  const ModelConfig config = load_hf_config(dir / "config.json");
  auto original = std::make_shared<model::CheckpointWeights>(dir);
  const std::string mine = "model.layers.0.block_sparse_moe.experts.0.w1.weight";
  const std::string foreign = "model.layers.0.block_sparse_moe.experts.1.w1.weight";
  const std::string plain = "model.layers.0.self_attn.q_proj.weight";
  const Shape shape = model::weight_shape(config, {0, model::Linear::expert_gate, 0});
  QuantizedWeights w(original, {mine, foreign});
  // While building: not yet quantized tensors come from the original.
  EXPECT_TRUE(w.contains(foreign));
  EXPECT_EQ(w.load(foreign, shape).data, original->load(foreign, shape).data);
  const Tensor fp = original->load(mine, shape);
  const quant::QuantizedMatrix q = quant::quantize_rtn(fp, {.bits = 2, .group_size = 16, .symmetric = false}, mine);
  w.add(mine, q, quant::make_channel_cache(fp, {3}, {}, mine));
  EXPECT_THROW(w.add(mine, q), moqa::Error);
  EXPECT_THROW(w.add(plain, q), moqa::Error);  // not in the plan
  w.seal();
  EXPECT_THROW(w.add(foreign, q), moqa::Error);
  // Sealed: another rank's tensor is an error, never the original.
  EXPECT_FALSE(w.contains(foreign));
  try {
    w.load(foreign, shape);
    FAIL();
  } catch (const moqa::Error& e) {
    EXPECT_NE(std::string(e.what()).find("quantized on another rank"), std::string::npos) << e.what();
  }
  const Tensor served = w.load(mine, shape);
  const Tensor deq = quant::dequantize(q);
  for (int64_t r = 0; r < shape[0]; ++r)
    for (int64_t c = 0; c < shape[1]; ++c) {
      const auto i = static_cast<size_t>(r * shape[1] + c);
      EXPECT_EQ(served.data[i], c == 3 ? fp.data[i] : deq.data[i]);
    }
  EXPECT_THROW(w.load(mine, {shape[1], shape[0]}), moqa::Error);
  const Shape q_shape = model::weight_shape(config, {0, model::Linear::q});
  EXPECT_EQ(w.load(plain, q_shape).data, original->load(plain, q_shape).data);
  // A re-cached copy shares the codes and serves other cached values.
  auto adjusted =
      w.with_caches({{mine, quant::requantize_channel_cache(q, w.entry(mine)->cache, 8, mine)}}, "adjusted");
  EXPECT_EQ(adjusted->entry(mine)->matrix, w.entry(mine)->matrix);
  EXPECT_NE(adjusted->load(mine, shape).data, served.data);
  EXPECT_EQ(w.load(mine, shape).data, served.data);
  EXPECT_THROW(w.with_caches({{mine, quant::make_channel_cache(fp, {4}, {}, mine)}}, "x"), moqa::Error);
}

// ------------------------------------------------------------------------------------------------------
// Channel adjustment in the pass.

TEST(ChannelAdjustment, CachedChannelsAreFullPrecisionAndOnlyTheyMoveForANovelDistribution) {
  const config::Experiment e =
      experiment_for("mixtral", config::QuantMethod::gptq, config::QuantizationSection{}.keep_full_precision);
  const ModelConfig config = load_hf_config(e.model.path / "config.json");
  const allocate::BitMatrix bits = mixed_bits(config);
  ChannelSets channels(bits.size(), std::vector<std::vector<int64_t>>(static_cast<size_t>(config.num_experts)));
  for (size_t l = 0; l < channels.size(); ++l)
    for (size_t x = 0; x < channels[l].size(); ++x)
      channels[l][x] = {static_cast<int64_t>(x), 40 + static_cast<int64_t>(l)};
  const Quantized q = quantize_model(e, bits, MPI_COMM_SELF, 2, &channels);
  const model::CheckpointWeights original(e.model.path);
  for (const QuantTarget& t : q.plan.targets) {
    const Tensor fp = original.load(t.name, t.shape);
    const Tensor served = q.store->served(t.name);
    const Tensor deq = quant::dequantize(*q.store->entry(t.name)->matrix);
    const auto& cached = channels[static_cast<size_t>(t.moe_index)][static_cast<size_t>(t.id.expert)];
    const bool down = t.id.kind == model::Linear::expert_down;
    for (int64_t r = 0; r < t.shape[0]; ++r)
      for (int64_t c = 0; c < t.shape[1]; ++c) {
        const bool is_cached = std::count(cached.begin(), cached.end(), down ? r : c) > 0;
        const auto i = static_cast<size_t>(r * t.shape[1] + c);
        // A cached down row is the original; cached gate/up columns hold GPTQ's final values (checked
        // against the reference in CachedEntriesAreExactInsideGptq).
        if (!is_cached) {
          ASSERT_EQ(served.data[i], deq.data[i]) << t.name << " " << r << "," << c;
        } else if (down) {
          ASSERT_EQ(served.data[i], fp.data[i]) << t.name << " " << r << "," << c;
        }
      }
  }
  // A novel distribution moves expert 1 of the first MoE layer from 4 to 2 bits and expert 2 from 6 to 8.
  NovelAllocation novel;
  novel.name = "code";
  novel.bits = bits;
  novel.changes = {{.layer = 0, .expert = 1, .old_bits = 4, .new_bits = 2},
                   {.layer = 0, .expert = 2, .old_bits = 6, .new_bits = 8}};
  const NovelWeights adjusted = novel_weights(*q.store, q.plan, novel);
  EXPECT_EQ(adjusted.requantized_tensors, 6);
  for (const QuantTarget& t : q.plan.targets) {
    const Tensor baseline = q.store->served(t.name), moved = adjusted.weights->served(t.name);
    const bool changed = t.moe_index == 0 && (t.id.expert == 1 || t.id.expert == 2);
    if (!changed) {
      EXPECT_EQ(moved.data, baseline.data) << t.name;
      continue;
    }
    const QuantizedWeights::Entry& entry = *q.store->entry(t.name);
    const int new_bits = t.id.expert == 1 ? 2 : 8;
    EXPECT_EQ(moved.data, quant::adjusted_weights(*entry.matrix, entry.cache, new_bits, t.name).data) << t.name;
    const Tensor deq = quant::dequantize(*entry.matrix);
    int64_t differing_cached = 0;
    for (size_t i = 0; i < moved.data.size(); ++i) {
      const int64_t r = static_cast<int64_t>(i) / t.shape[1], c = static_cast<int64_t>(i) % t.shape[1];
      const auto& cached = channels[0][static_cast<size_t>(t.id.expert)];
      const bool is_cached =
          std::count(cached.begin(), cached.end(), t.id.kind == model::Linear::expert_down ? r : c) > 0;
      if (!is_cached) {
        ASSERT_EQ(moved.data[i], deq.data[i]) << t.name;
      }
      differing_cached += is_cached && moved.data[i] != baseline.data[i];
    }
    EXPECT_GT(differing_cached, 0) << t.name;
  }
}

// The pass keeps the cached entries exact inside GPTQ (quant::GptqExact; docs/QUANTIZATION.md §5): codes and
// served weights equal the straightforward reference's, the cached gate/up columns hold GPTQ's final values
// (not the originals), and on the calibration inputs the layer output error is no larger than with the
// cache overwritten after plain GPTQ.
TEST(ChannelAdjustment, CachedEntriesAreExactInsideGptq) {
  const config::Experiment e =
      experiment_for("mixtral", config::QuantMethod::gptq, config::QuantizationSection{}.keep_full_precision);
  const ModelConfig config = load_hf_config(e.model.path / "config.json");
  const allocate::BitMatrix bits = mixed_bits(config);
  ChannelSets channels(bits.size(), std::vector<std::vector<int64_t>>(static_cast<size_t>(config.num_experts)));
  for (size_t l = 0; l < channels.size(); ++l)
    for (size_t x = 0; x < channels[l].size(); ++x)
      channels[l][x] = {static_cast<int64_t>(x), 20 + static_cast<int64_t>(x), 40 + static_cast<int64_t>(l)};
  const Quantized q = quantize_model(e, bits, MPI_COMM_SELF, 2, &channels);
  ReferenceCache reference_cache;
  const auto reference = reference_quantization(e, bits, 2, /*sequential=*/true, &channels, &reference_cache);
  expect_same_as_reference(q, reference);
  const model::CheckpointWeights original(e.model.path);
  int64_t moved_columns = 0;
  for (const QuantTarget& t : q.plan.targets) {
    if (!t.is_routed_expert()) continue;
    const Tensor served = q.store->served(t.name);
    const Tensor& want = reference_cache.served.at(t.name);
    for (size_t i = 0; i < served.data.size(); ++i)
      ASSERT_NEAR(served.data[i], want.data[i], 1e-6f * (1.0f + std::abs(want.data[i]))) << t.name << " " << i;
    const quant::ChannelCache& cache = q.store->entry(t.name)->cache;
    const Tensor fp = original.load(t.name, t.shape);
    for (size_t j = 0; j < cache.column_values.size(); ++j) {
      const int64_t r = static_cast<int64_t>(j / cache.columns.size());
      const int64_t c = cache.columns[j % cache.columns.size()];
      moved_columns += cache.column_values[j] != fp.data[static_cast<size_t>(r * t.shape[1] + c)];
    }
  }
  EXPECT_GT(moved_columns, 0);  // GPTQ's updates reached the cached columns
  double exact = 0.0, overwritten = 0.0;
  int64_t better = 0;
  for (const auto& [name, errors] : reference_cache.error) {
    exact += errors.first;
    overwritten += errors.second;
    better += errors.first <= errors.second;
  }
  std::printf("[ measured ] output error over %zu expert matrices: exact inside GPTQ %.6g, overwritten after %.6g; "
              "exact no worse in %lld\n",
              reference_cache.error.size(), exact, overwritten, static_cast<long long>(better));
  EXPECT_FALSE(reference_cache.error.empty());
  EXPECT_LE(exact, overwritten);
}

// ------------------------------------------------------------------------------------------------------
// RTN and the error profile.

TEST(QuantizeRtn, EveryTensorIsRtnOfItsOriginal) {
  const config::Experiment e = experiment_for("qwen2_moe", config::QuantMethod::rtn, {WeightGroup::attention});
  const ModelConfig config = load_hf_config(e.model.path / "config.json");
  const Quantized q = quantize_model(e, mixed_bits(config), MPI_COMM_SELF, 2);
  const model::CheckpointWeights original(e.model.path);
  EXPECT_EQ(q.report.windows, 0);
  EXPECT_EQ(q.report.tensors, static_cast<int64_t>(q.plan.targets.size()));
  for (const QuantTarget& t : q.plan.targets) {
    const quant::QuantizedMatrix expected = quant::quantize_rtn(
        original.load(t.name, t.shape), {.bits = t.bits, .group_size = 16, .symmetric = false, .scale_dtype = quant::ScaleDtype::f16},
        t.name);
    expect_same_matrix(*q.store->entry(t.name)->matrix, expected, t.name);
  }
}

// Rows each routed expert's gate/up and down read, collected independently of the pass.
class ExpertRows final : public model::ForwardObserver {
 public:
  explicit ExpertRows(backend::Backend& backend) : backend_(backend) {}
  std::map<std::pair<int64_t, int64_t>, std::vector<float>> input, down;
  void on_expert_input(const model::ExpertInputEvent& event) override {
    const Tensor rows = backend_.download(event.rows);
    auto& v = input[{event.layer, event.expert}];
    v.insert(v.end(), rows.data.begin(), rows.data.end());
  }
  void on_linear_input(const model::LinearId& id, const backend::Array& x) override {
    if (id.kind != model::Linear::expert_down) return;
    const Tensor rows = backend_.download(x);
    auto& v = down[{id.layer, id.expert}];
    v.insert(v.end(), rows.data.begin(), rows.data.end());
  }

 private:
  backend::Backend& backend_;
};

// 2/n ||(W - Q) X^T||^2 over the rows x of `rows` (n of them), in double.
double direct_error(const Tensor& w, const Tensor& q, const std::vector<float>& rows) {
  const int64_t out = w.dim(0), in = w.dim(1), n = static_cast<int64_t>(rows.size()) / in;
  if (n == 0) return 0.0;
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t r = 0; r < out; ++r) {
      double dot = 0.0;
      for (int64_t c = 0; c < in; ++c)
        dot += (double(w.data[static_cast<size_t>(r * in + c)]) - q.data[static_cast<size_t>(r * in + c)]) *
               rows[static_cast<size_t>(i * in + c)];
      total += dot * dot;
    }
  return 2.0 * total / static_cast<double>(n);
}

TEST(ErrorProfile, EqualsTheOutputErrorOfTheCalibrationInputs) {
  for (const auto method : {config::QuantMethod::rtn, config::QuantMethod::gptq}) {
    SCOPED_TRACE(std::string(config::name_of(method)));
    const config::Experiment e = experiment_for("deepseek_v3", method, {});
    const QuantizerSettings settings = quantizer_settings(e.quantization);
    const std::vector<int> widths{2, 3, 4, 8};
    RankSetup rank = open_rank(e.model.path, MPI_COMM_SELF);
    CalibrationBatches batches = embed_calibration_batches(*rank.model, token_samples(), 2, 0, 1);
    LayerPassWorld world = rank.world(MPI_COMM_SELF);
    const ErrorProfile profile = profile_expert_errors(world, batches, widths, settings);
    ASSERT_EQ(profile.error.size(), 1u);  // deepseek_v3's first layer is dense
    EXPECT_EQ(profile.windows, 10);

    // Independently: the FP forward's expert rows, each matrix quantized at each width, the error on the rows.
    RankSetup fresh = open_rank(e.model.path, MPI_COMM_SELF);
    CalibrationBatches again = embed_calibration_batches(*fresh.model, token_samples(), 2, 0, 1);
    ExpertRows rows(*fresh.backend);
    for (int64_t layer = 0; layer < fresh.config.num_layers; ++layer)
      run_layer_on_batches(*fresh.model, *fresh.experts, layer, again, &rows, true);
    const int64_t moe_layer = 1;
    for (int64_t x = 0; x < fresh.config.num_experts; ++x) {
      for (size_t k = 0; k < widths.size(); ++k) {
        double expected = 0.0;
        for (const model::Linear kind :
             {model::Linear::expert_gate, model::Linear::expert_up, model::Linear::expert_down}) {
          const model::LinearId id{moe_layer, kind, x};
          const Tensor w = fresh.model->weight_tensor(id);
          const auto& r = kind == model::Linear::expert_down ? rows.down[{moe_layer, x}] : rows.input[{moe_layer, x}];
          quant::HessianSum sum = quant::make_hessian_sum(w.dim(1));
          if (!r.empty()) quant::accumulate(sum, r, static_cast<int64_t>(r.size()) / w.dim(1));
          const QuantizedWeight q = quantize_weight(w, &sum, widths[k], settings, "w");
          expected += direct_error(w, quant::dequantize(q.matrix), r);
        }
        EXPECT_NEAR(profile.error[0][static_cast<size_t>(x)][k], expected, 1e-9 * expected + 1e-12)
            << "expert " << x << " at " << widths[k] << " bits";
      }
      const auto& err = profile.error[0][static_cast<size_t>(x)];
      if (method == config::QuantMethod::rtn && err.front() > 0) {
        for (size_t k = 1; k < widths.size(); ++k) EXPECT_LT(err[k], err[k - 1]) << "expert " << x;
      }
    }
  }
}

}  // namespace
}  // namespace moqa::pipeline
