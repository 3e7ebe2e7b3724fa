// The memory plan (plan/memory_plan.h) against what moqa-pipeline really holds, and the refusal of a run
// that does not fit runtime.memory_limit before any weight is read.
//
// Measured: the peak RssAnon (anonymous resident memory: heap and stacks, not the memory-mapped
// checkpoint pages, which the kernel can drop) of a single-rank run, sampled every 2 ms from
// /proc/<pid>/status while the run lasts; the plan's figure is its largest stage total.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "config/load.h"
#include "core/units.h"
#include "io/atomic_file.h"
#include "io/hf_config.h"
#include "io/safetensors.h"
#include "model/random_checkpoint.h"
#include "model/synthetic_weights.h"
#include "plan/memory_plan.h"
#include "support/test_support.h"

extern char** environ;

namespace moqa {
namespace {

namespace fs = std::filesystem;

// A Mixtral-architecture checkpoint large enough that model data, not the process itself, dominate its
// memory: 2 layers of 8 experts 512 -> 2048, vocabulary 32000 (about 90 M parameters, 360 MB as float32).
fs::path write_synthetic_checkpoint(const fs::path& dir) {
  fs::create_directories(dir);
  const nlohmann::json config = {
      {"model_type", "mixtral"}, {"vocab_size", 32000}, {"hidden_size", 512}, {"intermediate_size", 2048},
      {"num_hidden_layers", 2}, {"num_attention_heads", 8}, {"num_key_value_heads", 8},
      {"num_local_experts", 8}, {"num_experts_per_tok", 2}, {"max_position_embeddings", 4096},
      {"rms_norm_eps", 1e-5}, {"rope_theta", 1e6}, {"hidden_act", "silu"}, {"tie_word_embeddings", false}};
  io::write_file_atomic(dir / "config.json", config.dump(2));
  const ModelConfig c = load_hf_config(dir / "config.json");
  const model::SyntheticWeights weights(3);
  std::vector<std::vector<std::byte>> storage;
  std::vector<io::TensorToWrite> tensors;
  for (const auto& t : model::checkpoint_tensors(c)) {
    storage.push_back(io::convert_from_f32(io::DType::BF16, weights.load(t.name, t.shape).data));
    tensors.push_back({t.name, io::DType::BF16, t.shape, storage.back()});
  }
  io::write_safetensors(dir / "model.safetensors", tensors);
  return dir;
}

fs::path write_text(const fs::path& file, size_t bytes, uint32_t seed) {
  std::mt19937 rng(seed);
  const std::string words[] = {"the ", "expert ", "quantized ", "model ", "of ", "mixture ", "and ", "layer ", "token. "};
  std::string text;
  while (text.size() < bytes) text += words[rng() % 9];
  io::write_file_atomic(file, text);
  return file;
}

fs::path write_experiment(const fs::path& dir, const fs::path& model, bool stream) {
  const fs::path text = write_text(dir / "text.txt", 400'000, 1);
  std::ostringstream toml;
  toml << "[experiment]\nname = \"memory\"\noutput_dir = " << test::toml_path(dir / "out") << "\n"
       << "[model]\npath = " << test::toml_path(model) << "\ntokenizer = \"bytes\"\n"
       << "[[calibration]]\nname = \"a\"\npath = " << test::toml_path(text) << "\nsamples = 16\nseq_len = 256\n"
       << "[allocation]\nmethod = \"uniform\"\ntarget_bits = 4\ncandidate_bits = [4]\n"
       << "[quantization]\nmethod = \"gptq\"\ngroup_size = 128\n"
       << "[[evaluation]]\nname = \"e\"\nkind = \"perplexity\"\npath = " << test::toml_path(text)
       << "\nseq_len = 256\nmax_tokens = 8192\n"
       << "[runtime]\ndevice = \"cpu\"\nthreads = 1\nbatch_windows = 4\nstream_weights = " << (stream ? "true" : "false")
       << "\nprogress_interval_s = 0\n";
  io::write_file_atomic(dir / "experiment.toml", toml.str());
  return dir / "experiment.toml";
}

uint64_t rss_anon_bytes(pid_t pid) {
  std::ifstream status(cat("/proc/", pid, "/status"));
  for (std::string line; std::getline(status, line);)
    if (line.rfind("RssAnon:", 0) == 0) return std::stoull(line.substr(8)) * 1024;  // "RssAnon:  1234 kB"
  return 0;
}

struct MeasuredRun {
  int exit_code = -1;
  uint64_t peak_rss_anon = 0;
  std::string output;
};

// Runs moqa-pipeline ARGS as one process (an MPI singleton), sampling its RssAnon.
MeasuredRun run_measured(const std::vector<std::string>& args, const fs::path& log) {
  std::vector<std::string> argv_text = {test::pipeline_exe().string()};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_text) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  MeasuredRun run;
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) return run;
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    run.peak_rss_anon = std::max(run.peak_rss_anon, rss_anon_bytes(pid));
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(log);
  run.output.assign(std::istreambuf_iterator<char>(in), {});
  return run;
}

uint64_t planned_peak(const fs::path& experiment_toml, int ranks) {
  const config::Experiment e = config::load_experiment(experiment_toml);
  const ModelConfig model = load_hf_config(e.model.path / "config.json");
  const plan::MemoryPlan p = plan::plan_memory(e, model, ranks, plan::memory_target(e.runtime.memory_limit, e.runtime.hidden_state_memory_mib, e.runtime.device, 0, 1));
  uint64_t most = 0;
  for (const auto& rank : p.per_rank)
    for (const auto& stage : rank.stages) most = std::max(most, stage.total());
  return most;
}

class MemoryPlanRun : public testing::TestWithParam<bool> {};

TEST_P(MemoryPlanRun, PlanMatchesMeasuredPeakWithin25Percent) {
  const bool stream = GetParam();
  const fs::path dir = test::temp_dir(stream ? "memory-plan-stream" : "memory-plan");
  const fs::path model = write_synthetic_checkpoint(dir / "model");
  const fs::path toml = write_experiment(dir, model, stream);
  const MeasuredRun run = run_measured({toml.string()}, dir / "log.txt");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const uint64_t planned = planned_peak(toml, 1);
  const double ratio = double(planned) / double(run.peak_rss_anon);
  std::printf("stream_weights %s: planned %s, measured peak RssAnon %s, ratio %.3f\n", stream ? "true" : "false",
              format_bytes(static_cast<int64_t>(planned)).c_str(),
              format_bytes(static_cast<int64_t>(run.peak_rss_anon)).c_str(), ratio);
  EXPECT_GT(ratio, 0.75);
  EXPECT_LT(ratio, 1.25);
}

INSTANTIATE_TEST_SUITE_P(StreamWeights, MemoryPlanRun, testing::Values(false, true));

TEST(MemoryPlanRefusal, TooSmallALimitIsRefusedBeforeAnyWeightIsRead) {
  const fs::path dir = test::temp_dir("memory-refusal");
  const fs::path model = write_synthetic_checkpoint(dir / "model");
  const fs::path toml = write_experiment(dir, model, false);
  // Between the 1-rank and the 2-rank plan: the message must ask for 2 ranks.
  const uint64_t one = planned_peak(toml, 1), two = planned_peak(toml, 2);
  ASSERT_LT(two, one);
  const uint64_t limit_kib = (one + two) / 2 / 1024;
  // Without its weights file: reading any weight would fail with a different error.
  fs::remove(model / "model.safetensors");
  const MeasuredRun run = run_measured({toml.string(), "--set", cat("runtime.memory_limit=\"", limit_kib, " KiB\"")},
                                       dir / "log.txt");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_NE(run.output.find("memory plan: stage "), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("on rank 0 needs"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("its largest term is "), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("2 ranks would make it fit"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find(cat("runtime.memory_limit = \"", limit_kib, " KiB\"")), std::string::npos) << run.output;
  EXPECT_EQ(run.output.find("model.safetensors"), std::string::npos) << run.output;
  EXPECT_EQ(run.output.find("stage calibrate:"), std::string::npos) << run.output;  // no stage started
  EXPECT_FALSE(fs::exists(dir / "out" / "results.h5"));

  const MeasuredRun bad = run_measured({toml.string(), "--set", "runtime.memory_limit=\"lots\""}, dir / "bad.txt");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("runtime.memory_limit is \"lots\", expected \"auto\" or a positive size"), std::string::npos)
      << bad.output;
}

}  // namespace
}  // namespace moqa
