// End to end: `mpiexec -n 2 moqa-pipeline <experiment>` runs the calibrate stage on a tiny Mixtral with
// byte-level tokens and two generated text distributions; results.h5 is read back and checked. Also: a
// rank that meets a bad checkpoint takes the job down with its rank and the tensor's name and leaves no
// results.h5, and scripts/plot_analysis.py turns the results into PNGs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "analysis/calibration_data.h"
#include "data/sampler.h"
#include "dist/shard_plan.h"
#include "io/hdf5_file.h"
#include "io/hf_config.h"
#include "model/test_checkpoints.h"
#include "model/weight_names.h"
#include "support/test_support.h"

namespace moqa::analysis {
namespace {

namespace fs = std::filesystem;
using test::mpiexec;
using test::shell_quoted;
using test::toml_path;

void write_text(const fs::path& path, const std::string& unit, size_t bytes) {
  std::ofstream out(path, std::ios::binary);
  for (size_t n = 0; n < bytes; n += unit.size()) out << unit;
}

// An experiment over the model in `model_dir` with two byte-level distributions, in `dir`.
fs::path write_experiment(const fs::path& dir, const fs::path& model_dir) {
  write_text(dir / "prose.txt", "It was the best of times, it was the worst of times; the age of wisdom. ", 3000);
  write_text(dir / "code.txt", "for (int i = 0; i < n; ++i) { total += values[i] * 2; }\n", 3000);
  const fs::path toml = dir / "experiment.toml";
  std::ofstream(toml) << "[experiment]\nname = \"calib-e2e\"\nseed = 3\noutput_dir = " << toml_path(dir / "out")
                      << "\nstages = [\"calibrate\"]\n\n[model]\npath = " << toml_path(model_dir)
                      << "\ntokenizer = \"bytes\"\n\n"
                      << "[[calibration]]\nname = \"prose\"\npath = \"prose.txt\"\nsamples = 6\nseq_len = 32\n\n"
                      << "[[calibration]]\nname = \"code\"\npath = \"code.txt\"\nsamples = 5\nseq_len = 32\n\n"
                      << "[analysis]\nchannel_significance = \"saliency\"\ntoken_reweighting = 0.5\n\n"
                      << "[runtime]\ndevice = \"cpu\"\nthreads = 1\nbatch_windows = 2\nprogress_interval_s = 0\n";
  return toml;
}

class AnalysisPipeline : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = test::temp_dir("analysis-e2e");
    const fs::path toml = write_experiment(dir_, test::data_dir() / "arch" / "mixtral");
    run_ = test::run_command("timeout 120 " + mpiexec(2) + " " + shell_quoted(test::pipeline_exe()) + " " +
                             shell_quoted(toml));
  }
  static fs::path results() { return dir_ / "out" / "results.h5"; }

  static inline fs::path dir_;
  static inline test::CommandResult run_;
};

TEST_F(AnalysisPipeline, RunsAndReportsProgress) {
  ASSERT_EQ(run_.exit_code, 0) << run_.output;
  // One layer-major pass over both distributions: progress counts layers.
  const ModelConfig config = load_hf_config(test::data_dir() / "arch" / "mixtral" / "config.json");
  EXPECT_NE(run_.output.find("[moqa] calibrate prose, code: done, " + std::to_string(config.num_layers) + " layers"),
            std::string::npos)
      << run_.output;
  EXPECT_NE(run_.output.find("calibrate prose: 6 windows x 32 tokens"), std::string::npos) << run_.output;
  EXPECT_NE(run_.output.find("calibrate code: 5 windows x 32 tokens"), std::string::npos) << run_.output;
  ASSERT_TRUE(fs::exists(results()));
  for (const auto& entry : fs::directory_iterator(dir_ / "out")) {
    const std::string name = entry.path().filename().string();
    EXPECT_TRUE(name == "results.h5" || name == "results.json" || name == "results.md")
        << "left behind: " << entry.path();
  }
}

TEST_F(AnalysisPipeline, ProvenanceDescribesTheRun) {
  ASSERT_TRUE(fs::exists(results())) << run_.output;
  const io::H5Reader r = io::H5Reader::open(results());
  EXPECT_NE(r.read_string("/provenance/config_toml").find("calib-e2e"), std::string::npos);
  EXPECT_NE(r.read_string("/provenance/command_line").find("moqa-pipeline"), std::string::npos);
  EXPECT_EQ(r.read_strings("/provenance/hostnames").size(), 2u);
  EXPECT_EQ(r.attribute_int64("/provenance", "ranks"), 2);
  EXPECT_EQ(r.attribute_int64("/provenance", "seed"), 3);
  for (const char* name : {"git_commit", "moqa_version", "hdf5_version", "mpi_version", "hostname", "utc_start",
                           "utc_finish"})
    EXPECT_FALSE(r.attribute_string("/provenance", name).empty()) << name;
  EXPECT_GE(r.attribute_double("/provenance", "wall_time_s"), 0.0);
}

TEST_F(AnalysisPipeline, AnalysisStatisticsAreConsistent) {
  ASSERT_TRUE(fs::exists(results())) << run_.output;
  const io::H5Reader r = io::H5Reader::open(results());
  EXPECT_EQ(r.read_strings("/analysis/distributions"), (std::vector<std::string>{"prose", "code"}));
  EXPECT_EQ(r.attribute_string("/analysis", "channel_significance"), "saliency");
  EXPECT_EQ(r.attribute_int64("/analysis", "token_reweighted"), 1);
  const ModelConfig config = load_hf_config(test::data_dir() / "arch" / "mixtral" / "config.json");
  const int64_t experts = config.num_experts, channels = config.hidden_size;
  for (const auto& [name, windows] : std::vector<std::pair<std::string, int64_t>>{{"prose", 6}, {"code", 5}}) {
    const std::string g = "/analysis/" + name;
    EXPECT_EQ(r.attribute_int64(g, "windows"), windows);
    EXPECT_EQ(r.attribute_int64(g, "tokens"), windows * 32);
    // The windows are the rank-independent sampler's, with the documented seed.
    const auto starts = r.read<int64_t>(g + "/window_starts").values;
    EXPECT_EQ(starts, data::sample_window_starts(r.attribute_int64(g, "stream_tokens"), 32, windows,
                                                 calibration_seed(3, name)));
    for (int64_t layer = 0; layer < config.num_layers; ++layer) {
      const std::string l = g + "/layer_" + std::to_string(layer);
      const auto counts = r.read<int64_t>(l + "/routed_count");
      ASSERT_EQ(counts.shape, (Shape{experts}));
      EXPECT_EQ(std::accumulate(counts.values.begin(), counts.values.end(), int64_t{0}), windows * 32 * config.top_k);
      const auto co = r.read<int64_t>(l + "/coactivation");
      ASSERT_EQ(co.shape, (Shape{experts, experts}));
      for (int64_t i = 0; i < experts; ++i) {
        EXPECT_EQ(co.values[static_cast<size_t>(i * experts + i)], counts.values[static_cast<size_t>(i)]);
        for (int64_t j = 0; j < experts; ++j)
          EXPECT_EQ(co.values[static_cast<size_t>(i * experts + j)], co.values[static_cast<size_t>(j * experts + i)]);
      }
      for (const char* field : {"abs_sum", "sq_sum", "abs_max", "weighted_abs_sum", "weighted_sq_sum",
                                "channel_significance", "weight_column_norm"})
        EXPECT_EQ(r.shape(l + "/" + field), (Shape{experts, channels})) << l << "/" << field;
      const auto s_exp = r.read<double>(l + "/expert_significance").values;
      EXPECT_NEAR(std::accumulate(s_exp.begin(), s_exp.end(), 0.0), 1.0, 1e-12);
    }
  }
  for (int64_t layer = 0; layer < config.num_layers; ++layer) {
    const std::string l = "/analysis/synthesized/layer_" + std::to_string(layer);
    const auto mean = r.read<double>(l + "/significance_mean").values;
    EXPECT_NEAR(std::accumulate(mean.begin(), mean.end(), 0.0), 1.0, 1e-12);
    for (const double v : r.read<double>(l + "/significance_variance").values) EXPECT_GE(v, 0.0);
    EXPECT_EQ(r.shape(l + "/correlation"), (Shape{experts, experts}));
  }
}

TEST_F(AnalysisPipeline, PlotScriptWritesReadablePngs) {
  ASSERT_TRUE(fs::exists(results())) << run_.output;
  MOQA_REQUIRE(test::run_command("/usr/bin/python3 -c 'import numpy, h5py, matplotlib'").exit_code == 0,
               "/usr/bin/python3 lacks numpy, h5py or matplotlib: plot_analysis.py not tested");
  const fs::path script = test::source_dir() / "scripts" / "plot_analysis.py";
  const auto help = test::run_command("/usr/bin/python3 " + shell_quoted(script) + " --help");
  EXPECT_EQ(help.exit_code, 0) << help.output;
  const fs::path out = dir_ / "plots";
  const auto plot = test::run_command("/usr/bin/python3 " + shell_quoted(script) + " " + shell_quoted(results()) +
                                      " -o " + shell_quoted(out));
  ASSERT_EQ(plot.exit_code, 0) << plot.output;
  for (const char* png : {"activation_prose.png", "activation_code.png", "significance.png",
                          "coactivation_layer_0.png", "coactivation_layer_1.png"}) {
    ASSERT_TRUE(fs::exists(out / png)) << png << "\n" << plot.output;
    std::ifstream in(out / png, std::ios::binary);
    char magic[4] = {};
    in.read(magic, 4);
    EXPECT_EQ(std::string(magic + 1, 3), "PNG") << png;
  }
}

// experiments/quickstart.toml's calibrate stage on the trained mixtral-tiny: its experts specialise by
// distribution, so S_exp must differ clearly between WikiText-2 and tiny Shakespeare somewhere.
TEST(AnalysisQuickstart, CalibrateStageSeesDistributionDependentExperts) {
  MOQA_REQUIRE_ASSET(test::assets_dir() / "trained" / "mixtral-tiny" / "config.json");
  MOQA_REQUIRE_ASSET(test::assets_dir() / "text" / "wikitext-2" / "valid.txt");
  MOQA_REQUIRE_ASSET(test::assets_dir() / "text" / "tinyshakespeare" / "input.txt");
  const fs::path out = test::temp_dir("analysis-quickstart");
  const auto run = test::run_command("timeout 300 " + mpiexec(2) + " " + shell_quoted(test::pipeline_exe()) + " " +
                                     shell_quoted(test::source_dir() / "experiments" / "quickstart.toml") +
                                     " --output " + shell_quoted(out) + " --set 'experiment.stages=[\"calibrate\"]'");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const io::H5Reader r = io::H5Reader::open(out / "results.h5");
  double largest_shift = 0.0;
  for (const int64_t layer : r.attribute<int64_t>("/analysis", "moe_layers")) {
    const std::string l = "/layer_" + std::to_string(layer) + "/expert_significance";
    const auto wiki = r.read<double>("/analysis/wikitext-2" + l).values;
    const auto shakespeare = r.read<double>("/analysis/tinyshakespeare" + l).values;
    for (size_t e = 0; e < wiki.size(); ++e) largest_shift = std::max(largest_shift, std::fabs(wiki[e] - shakespeare[e]));
  }
  EXPECT_GT(largest_shift, 0.1);
}

// Rank 1 owns an expert whose checkpoint tensor has the wrong shape: the job must stop with the rank
// and the tensor's name, non-zero, and without a results.h5.
TEST(AnalysisPipelineFailure, BadExpertTensorOnRankOneAbortsTheJob) {
  const fs::path source = test::data_dir() / "arch" / "mixtral";
  const ModelConfig config = load_hf_config(source / "config.json");
  const dist::ShardPlan plan = dist::make_shard_plan(config, 2, 4);
  const std::vector<int64_t> owned = plan.experts_of(1, 1);
  ASSERT_FALSE(owned.empty());
  const model::LinearId victim{1, model::Linear::expert_up, owned.back()};
  const std::string tensor = model::weight_name(config, victim);

  const fs::path dir = test::temp_dir("analysis-bad-rank");
  auto tensors = model::testing::read_tensors(source / "model.safetensors");
  ASSERT_TRUE(tensors.count(tensor)) << tensor;
  tensors[tensor] = Tensor({config.expert_intermediate_size, config.hidden_size + 1});
  model::testing::write_model_dir(dir / "model", tensors, model::testing::read_json(source / "config.json"));
  const fs::path toml = write_experiment(dir, dir / "model");

  const auto run = test::run_command("timeout 60 " + mpiexec(2) + " " + shell_quoted(test::pipeline_exe()) + " " +
                                     shell_quoted(toml));
  EXPECT_NE(run.exit_code, 0) << run.output;
  EXPECT_NE(run.exit_code, 124) << "the job hung instead of aborting:\n" << run.output;
  EXPECT_NE(run.output.find("rank 1"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find(tensor), std::string::npos) << run.output;
  EXPECT_FALSE(fs::exists(dir / "out" / "results.h5"));
}

}  // namespace
}  // namespace moqa::analysis
