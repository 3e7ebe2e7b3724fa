// End to end: `mpiexec -n 2 moqa-pipeline` with the stages calibrate, allocate and quantize on generated
// experiments over the tiny Mixtral (byte-level tokens, two calibration texts and a novel one):
//   - moqa + GPTQ + channel adjustment + quantized checkpoint and dequantized export;
//   - budgeted + RTN, with attention and lm_head quantized too.
// results.h5 (/allocation, /quantization) is read back and checked against itself and the checkpoint,
// which moqa loads again as a model directory.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <string>

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#include "io/hdf5_file.h"
#include "io/hf_config.h"
#include "model/model.h"
#include "quant/channel_cache.h"
#include "quant/checkpoint.h"
#include "support/test_support.h"

namespace moqa::pipeline {
namespace {

namespace fs = std::filesystem;
using test::mpiexec;
using test::shell_quoted;
using test::toml_path;


void write_text(const fs::path& path, const std::string& unit, size_t bytes) {
  std::ofstream out(path, std::ios::binary);
  for (size_t n = 0; n < bytes; n += unit.size()) out << unit;
}

fs::path write_experiment(const fs::path& dir, const std::string& name, const std::string& allocation,
                          const std::string& quantization) {
  write_text(dir / "prose.txt", "It was the best of times, it was the worst of times; the age of wisdom. ", 3000);
  write_text(dir / "lists.txt", "apples, pears, plums; 1, 2, 3, 5, 8, 13, 21, 34; red green blue. ", 3000);
  write_text(dir / "code.txt", "for (int i = 0; i < n; ++i) { total += values[i] * 2; }\n", 3000);
  const fs::path toml = dir / (name + ".toml");
  std::ofstream(toml)
      << "[experiment]\nname = \"" << name << "\"\nseed = 5\noutput_dir = " << toml_path(dir / name)
      << "\nstages = [\"calibrate\", \"allocate\", \"quantize\"]\n\n[model]\npath = "
      << toml_path(test::data_dir() / "arch" / "mixtral") << "\ntokenizer = \"bytes\"\n\n"
      << "[[calibration]]\nname = \"prose\"\npath = \"prose.txt\"\nsamples = 6\nseq_len = 24\n\n"
      << "[[calibration]]\nname = \"lists\"\npath = \"lists.txt\"\nsamples = 5\nseq_len = 24\n\n"
      << "[allocation]\n"
      << allocation << "\n\n[quantization]\n"
      << quantization << "\n\n"
      << "[[evaluation]]\nname = \"code\"\npath = \"code.txt\"\ndistribution = \"novel\"\nseq_len = 24\n"
      << "profile = \"leading_slice\"\n\n"  // the first 6 x 24 tokens, then not scored
      << "[runtime]\ndevice = \"cpu\"\nthreads = 1\nbatch_windows = 2\nprogress_interval_s = 0\n";
  return toml;
}

class QuantizePipeline : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = test::temp_dir("quantize-e2e");
    const fs::path moqa = write_experiment(dir_, "moqa", "method = \"moqa\"\ntarget_bits = 4.0",
                                           "method = \"gptq\"\ngroup_size = 32\nchannel_adjustment = true\n"
                                           "save_checkpoint = true\nexport_dequantized = true");
    moqa_run_ = test::run_command("timeout 300 " + mpiexec(2) + " " + shell_quoted(test::pipeline_exe()) + " " +
                                  shell_quoted(moqa));
    const fs::path budgeted =
        write_experiment(dir_, "budgeted", "method = \"budgeted\"\ntarget_bits = 3.0\nbudget_counts_all_linear = true",
                         "method = \"rtn\"\ngroup_size = 0\nkeep_full_precision = [\"router\", \"embeddings\"]");
    budgeted_run_ = test::run_command("timeout 300 " + mpiexec(2) + " " + shell_quoted(test::pipeline_exe()) + " " +
                                      shell_quoted(budgeted));
    const fs::path cache_only = write_experiment(dir_, "cache-only", "method = \"moqa\"\ntarget_bits = 4.0",
                                                 "method = \"gptq\"\ngroup_size = 32\nchannel_adjustment = \"cache_only\"");
    cache_only_run_ = test::run_command("timeout 300 " + mpiexec(2) + " " + shell_quoted(test::pipeline_exe()) + " " +
                                        shell_quoted(cache_only));
  }
  static fs::path out(const std::string& name) { return dir_ / name; }

  static inline fs::path dir_;
  static inline test::CommandResult moqa_run_, budgeted_run_, cache_only_run_;
};

std::vector<int64_t> int_values(const io::H5Reader& r, const std::string& dataset) {
  return r.read<int64_t>(dataset).values;
}

TEST_F(QuantizePipeline, MoqaGptqRunWritesAllocationAndQuantization) {
  ASSERT_EQ(moqa_run_.exit_code, 0) << moqa_run_.output;
  EXPECT_NE(moqa_run_.output.find("[moqa] quantize: done, 2 layers"), std::string::npos) << moqa_run_.output;
  EXPECT_NE(moqa_run_.output.find("allocate: novel distribution \"code\""), std::string::npos) << moqa_run_.output;
  const io::H5Reader r = io::H5Reader::open(out("moqa") / "results.h5");
  const ModelConfig config = load_hf_config(test::data_dir() / "arch" / "mixtral" / "config.json");
  const int64_t layers = config.num_moe_layers(), experts = config.num_experts;

  EXPECT_EQ(r.attribute_string("/allocation", "method"), "moqa");
  EXPECT_EQ(r.shape("/allocation/bits"), (Shape{layers, experts}));
  EXPECT_EQ(int_values(r, "/allocation/moe_layers"), (std::vector<int64_t>{0, 1}));
  const std::vector<int64_t> bits = int_values(r, "/allocation/bits");
  for (const int64_t b : bits) EXPECT_TRUE(b == 2 || b == 4 || b == 6 || b == 8) << b;
  const double mean =
      static_cast<double>(std::accumulate(bits.begin(), bits.end(), int64_t{0})) / static_cast<double>(bits.size());
  // All linear weights: the experts plus attention and router at 16 bits (kept by default).
  const double other = static_cast<double>(r.attribute_int64("/allocation", "other_params"));
  const double expert_params = static_cast<double>(r.attribute_int64("/allocation", "expert_params"));
  // The cached channels count 16 bits each next to the codes (docs/ALLOCATION.md §4.1).
  const double cached = static_cast<double>(r.attribute_int64("/quantization", "cached_elements"));
  EXPECT_NEAR(r.attribute_double("/allocation", "expert_mean_bits"), mean + 16.0 * cached / expert_params, 1e-12);
  EXPECT_NEAR(r.attribute_double("/allocation", "all_linear_mean_bits"),
              (mean * expert_params + 16.0 * cached + 16.0 * other) / (expert_params + other), 1e-12);
  EXPECT_EQ(r.shape("/allocation/membership"), (Shape{layers, experts, 4}));
  EXPECT_EQ(r.shape("/allocation/channel_cache/channels"), (Shape{layers, experts, 1}));  // ceil(1% of 64)
  EXPECT_EQ(r.shape("/allocation/novel/code/bits"), (Shape{layers, experts}));
  // Profiled on the leading slice of code.txt: the first samples x seq_len = 6 x 24 tokens, where scoring starts.
  EXPECT_EQ(r.attribute_string("/allocation/novel/code", "profile"), "leading_slice");
  EXPECT_EQ(r.attribute_string("/allocation/novel/code", "profile_source"), (dir_ / "code.txt").string());
  EXPECT_EQ(r.attribute_int64("/allocation/novel/code", "profile_token_begin"), 0);
  EXPECT_EQ(r.attribute_int64("/allocation/novel/code", "profile_token_end"), 144);
  EXPECT_EQ(r.attribute_int64("/allocation/novel/code", "scored_from_token"), 144);
  EXPECT_EQ(r.read_strings("/allocation/other_weights/names"), (std::vector<std::string>{"attention", "router"}));

  EXPECT_EQ(r.attribute_string("/quantization", "method"), "gptq");
  EXPECT_EQ(r.attribute_int64("/quantization", "quantized_tensors"), layers * experts * 3);
  EXPECT_EQ(r.attribute_int64("/quantization", "windows"), 11);
  // Cached: per expert one column of gate and up (96 rows each) and one row of down (96 columns).
  EXPECT_EQ(r.attribute_int64("/quantization", "cached_elements"), layers * experts * 3 * 96);
  const std::vector<std::string> tensors = r.read_strings("/quantization/tensors");
  const std::vector<int64_t> tensor_bits = int_values(r, "/quantization/tensor_bits");
  for (size_t i = 0; i < tensors.size(); ++i) {
    const size_t expert_index = i / 3;  // gate, up, down of each expert in (layer, expert) order
    EXPECT_EQ(tensor_bits[i], bits[expert_index]) << tensors[i];
  }

  // What the model stores: every code plus the cached elements at 16 bits; the model adjusted to the novel
  // set also holds the re-quantized copies (at the new width) of the cached elements of changed experts.
  EXPECT_NEAR(r.attribute_double("/allocation/channel_cache", "stored_expert_mean_bits"),
              (mean * expert_params + 16.0 * cached) / expert_params, 1e-12);
  EXPECT_NEAR(r.attribute_double("/allocation/channel_cache", "stored_all_linear_mean_bits"),
              (mean * expert_params + 16.0 * cached + 16.0 * other) / (expert_params + other), 1e-12);
  const std::vector<int64_t> novel_bits = int_values(r, "/allocation/novel/code/bits");
  const double cached_per_expert = cached / static_cast<double>(bits.size());
  const double params_per_expert = expert_params / static_cast<double>(bits.size());
  double novel_bit_params = 0.0;
  for (size_t x = 0; x < bits.size(); ++x)
    novel_bit_params += static_cast<double>(bits[x]) * params_per_expert + 16.0 * cached_per_expert +
                        static_cast<double>(novel_bits[x] != bits[x] ? novel_bits[x] : 0) * cached_per_expert;
  EXPECT_NEAR(r.attribute_double("/allocation/novel/code", "stored_expert_mean_bits"),
              novel_bit_params / expert_params, 1e-12);
}

// The control "BQ + FP cache, no re-allocation": the moqa run's cache (same channels, same GPTQ), but the novel
// set is neither profiled nor re-allocated.
TEST_F(QuantizePipeline, CacheOnlyKeepsTheCacheWithoutReallocating) {
  ASSERT_EQ(cache_only_run_.exit_code, 0) << cache_only_run_.output;
  EXPECT_EQ(cache_only_run_.output.find("allocate: novel distribution"), std::string::npos) << cache_only_run_.output;
  const io::H5Reader r = io::H5Reader::open(out("cache-only") / "results.h5");
  const io::H5Reader moqa = io::H5Reader::open(out("moqa") / "results.h5");
  EXPECT_EQ(r.attribute_string("/quantization", "channel_adjustment_mode"), "cache_only");
  EXPECT_EQ(moqa.attribute_string("/quantization", "channel_adjustment_mode"), "reallocate");
  EXPECT_EQ(r.attribute_int64("/quantization", "cached_elements"), moqa.attribute_int64("/quantization", "cached_elements"));
  EXPECT_EQ(int_values(r, "/allocation/channel_cache/channels"), int_values(moqa, "/allocation/channel_cache/channels"));
  EXPECT_EQ(int_values(r, "/allocation/bits"), int_values(moqa, "/allocation/bits"));
  EXPECT_TRUE(moqa.exists("/allocation/novel/code"));
  EXPECT_FALSE(r.exists("/allocation/novel/code"));
}

TEST_F(QuantizePipeline, CheckpointRecordsTheAllocationAndLoadsAsAModel) {
  ASSERT_EQ(moqa_run_.exit_code, 0) << moqa_run_.output;
  const fs::path checkpoint = out("moqa") / "quantized-model";
  ASSERT_TRUE(fs::exists(checkpoint / "model.safetensors.index.json"));
  EXPECT_TRUE(fs::exists(checkpoint / "model-q-00001-of-00002.safetensors"));
  EXPECT_TRUE(fs::exists(checkpoint / "model-q-00002-of-00002.safetensors"));
  EXPECT_TRUE(fs::exists(out("moqa") / "dequantized-model" / "model.safetensors.index.json"));
  const io::H5Reader r = io::H5Reader::open(out("moqa") / "results.h5");
  EXPECT_EQ(r.attribute_string("/quantization", "checkpoint"), checkpoint.string());
  const std::vector<int64_t> bits = int_values(r, "/allocation/bits");
  std::ifstream in(checkpoint / "config.json");
  const nlohmann::json config = nlohmann::json::parse(in);
  const auto& per_expert = config.at("quantization_config").at("bits_per_expert");
  for (int64_t l = 0; l < 2; ++l)
    for (int64_t e = 0; e < 8; ++e)
      EXPECT_EQ(per_expert.at(cat("model.layers.", l, ".block_sparse_moe.experts.", e)).get<int64_t>(),
                bits[static_cast<size_t>(l * 8 + e)]);
  // Every routed expert's channel cache is stored with its codes (one cached hidden channel: a gate and an
  // up column, a down row) and served by the checkpoint's reader.
  const io::CheckpointReader reader = quant::open_quantized_checkpoint(checkpoint);
  for (int64_t l = 0; l < 2; ++l)
    for (int64_t e = 0; e < 8; ++e)
      for (const char* projection : {"w1", "w2", "w3"}) {
        const std::string name = cat("model.layers.", l, ".block_sparse_moe.experts.", e, ".", projection, ".weight");
        const quant::ChannelCache cache = quant::load_channel_cache(reader, name);
        const bool down = std::string(projection) == "w2";
        EXPECT_EQ(cache.columns.size(), down ? 0u : 1u) << name;
        EXPECT_EQ(cache.rows.size(), down ? 1u : 0u) << name;
        EXPECT_EQ(quant::load_weight(reader, name, {cache.matrix_rows, cache.matrix_cols}).data,
                  quant::dequantize_with_cache(quant::load_quantized(reader, name), cache, name).data)
            << name;
      }
  backend::CpuBackend backend(backend::CpuOptions{.threads = 1});
  model::Model model = model::Model::open(checkpoint, backend);
  model::HiddenStates h = model.embed({.windows = 1, .seq_len = 8, .ids = {72, 101, 108, 108, 111, 32, 119, 111}});
  for (int64_t layer = 0; layer < model.config().num_layers; ++layer) model.forward_layer(layer, h);
  for (const float v : backend.download(model.logits(model.final_norm(h))).data) ASSERT_TRUE(std::isfinite(v));
}

TEST_F(QuantizePipeline, BudgetedRunMeasuresErrorsAndMeetsTheAllLinearBudget) {
  ASSERT_EQ(budgeted_run_.exit_code, 0) << budgeted_run_.output;
  EXPECT_NE(budgeted_run_.output.find("[moqa] error profile: done"), std::string::npos) << budgeted_run_.output;
  const io::H5Reader r = io::H5Reader::open(out("budgeted") / "results.h5");
  EXPECT_EQ(r.attribute_string("/allocation", "method"), "budgeted");
  EXPECT_EQ(r.shape("/allocation/quant_error"), (Shape{2, 8, 4}));
  EXPECT_EQ(int_values(r, "/allocation/error_bits"), (std::vector<int64_t>{2, 4, 6, 8}));
  const std::vector<double> errors = r.read<double>("/allocation/quant_error").values;
  for (size_t i = 0; i < errors.size(); i += 4) {
    EXPECT_GT(errors[i], errors[i + 1]);  // RTN: more bits, less error
    EXPECT_GT(errors[i + 1], errors[i + 3]);
  }
  EXPECT_LE(r.attribute_double("/allocation", "all_linear_mean_bits"), 3.0 + 1e-12);
  EXPECT_EQ(r.attribute_int64("/allocation", "exact"), 1);
  // Attention and lm_head quantized at the width nearest to the target (4), the router and embeddings kept.
  EXPECT_EQ(r.attribute_int64("/quantization", "non_expert_bits"), 4);
  const std::vector<std::string> tensors = r.read_strings("/quantization/tensors");
  const std::set<std::string> names(tensors.begin(), tensors.end());
  EXPECT_TRUE(names.count("model.layers.1.self_attn.o_proj.weight"));
  EXPECT_TRUE(names.count("lm_head.weight"));
  EXPECT_FALSE(names.count("model.layers.1.block_sparse_moe.gate.weight"));
  EXPECT_FALSE(names.count("model.embed_tokens.weight"));
  EXPECT_EQ(r.attribute_int64("/quantization", "windows"), 0);  // RTN reads no calibration data
}

}  // namespace
}  // namespace moqa::pipeline
