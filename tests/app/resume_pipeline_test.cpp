// runtime.resume end to end: `mpiexec -n 2 moqa-pipeline` runs on the tiny
// Mixtral (byte-level tokens, two calibration texts and a novel one), one after
// another in the same output folder:
//   - statistics reused when only [allocation] changed (log line, /analysis
//     attributes), giving the same /analysis and /allocation as a fresh run
//     with that [allocation], bit for bit;
//   - recomputed, with the reason on one line, when a [[calibration]] key, the
//     seed, the rank count or a corpus file changed, or the earlier results.h5
//     is missing or not HDF5; [analysis] keys that only the allocation reads
//     do not count;
//   - an allocate-only run takes the statistics from the earlier run, or fails
//     saying why;
//   - the quantized checkpoint (GPTQ with channel adjustment) loaded instead of
//     re-quantized, giving the same /quantization and perplexities;
//     re-quantized when the allocation differs or the checkpoint is
//     incomplete; an RTN checkpoint of 2 ranks reused by 1 rank.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "analysis/results_reader.h"
#include "analysis/results_writer.h"
#include "core/error.h"
#include "io/hdf5_file.h"
#include "io/hf_config.h"
#include "support/test_support.h"

namespace moqa::pipeline {
namespace {

namespace fs = std::filesystem;
using test::shell_quoted;
using test::toml_path;
using ::testing::HasSubstr;
using ::testing::Not;

void write_text(const fs::path& path, const std::string& unit, size_t bytes) {
  std::ofstream out(path, std::ios::binary);
  for (size_t n = 0; n < bytes; n += unit.size()) out << unit;
}

fs::path model_dir() { return test::data_dir() / "arch" / "mixtral"; }

// The calibration texts and the allocation both statistics-reading experiments share.
constexpr const char* kCalibrationAndAllocation = R"(
[[calibration]]
name = "prose"
path = "prose.txt"
samples = 6
seq_len = 24

[[calibration]]
name = "lists"
path = "lists.txt"
samples = 5
seq_len = 24

[allocation]
method = "moqa"
target_bits = 3.0
# The runs below lower the target to 2.5, which with the scale/zero overhead counted leaves too few bits
# for the 2-bit floor at group 32; resume does not depend on how the budget is counted.
budget_counts_overhead = false
)";

// One thread, small batches, quiet, resuming.
constexpr const char* kRuntime = R"(
[runtime]
device = "cpu"
threads = 1
batch_windows = 2
progress_interval_s = 0
resume = true
)";

// GPTQ with channel adjustment and a saved checkpoint, evaluated on a known
// and a novel set.
fs::path write_gptq_experiment(const fs::path& dir) {
  const fs::path toml = dir / "gptq.toml";
  std::ofstream(toml) << "[experiment]\nname = \"gptq\"\nseed = 5\noutput_dir = " << toml_path(dir / "gptq") << R"(
stages = ["calibrate", "allocate", "quantize", "evaluate"]

[model]
path = )" << toml_path(model_dir()) << R"(
tokenizer = "bytes"

)" << kCalibrationAndAllocation << R"(
[quantization]
method = "gptq"
group_size = 32
channel_adjustment = true
save_checkpoint = true

[[evaluation]]
name = "code"
path = "code.txt"
distribution = "novel"
seq_len = 24
max_tokens = 480
profile = "transductive"

[[evaluation]]
name = "prose"
path = "prose.txt"
seq_len = 24
max_tokens = 480

)" << kRuntime;
  return toml;
}

// Calibrate and allocate only (RTN checkpoints are covered by `uniform`).
fs::path write_statistics_experiment(const fs::path& dir) {
  const fs::path toml = dir / "stats.toml";
  std::ofstream(toml) << "[experiment]\nname = \"stats\"\nseed = 5\noutput_dir = " << toml_path(dir / "stats") << R"(
stages = ["calibrate", "allocate"]

[model]
path = )" << toml_path(model_dir()) << R"(
tokenizer = "bytes"

)" << kCalibrationAndAllocation << R"(
)" << kRuntime;
  return toml;
}

// Uniform RTN needs no statistics: its checkpoint's key has no rank count.
fs::path write_uniform_experiment(const fs::path& dir) {
  const fs::path toml = dir / "uniform.toml";
  std::ofstream(toml) << "[experiment]\nname = \"uniform\"\noutput_dir = " << toml_path(dir / "uniform") << R"(
stages = ["allocate", "quantize"]

[model]
path = )" << toml_path(model_dir()) << R"(
tokenizer = "bytes"

[allocation]
method = "uniform"
target_bits = 4

[quantization]
method = "rtn"
group_size = 32
save_checkpoint = true

[runtime]
device = "cpu"
threads = 1
progress_interval_s = 0
resume = true
)";
  return toml;
}

test::CommandResult run(int ranks, const fs::path& toml, const std::string& arguments = "") {
  const std::string mpiexec = test::mpiexec(ranks);
  return test::run_command("timeout 300 " + mpiexec + " " + shell_quoted(test::pipeline_exe()) + " " +
                           shell_quoted(toml) + " " + arguments);
}

// Every dataset and attribute under `group` equal in both files, bit for bit
// (numbers compared as float64, which holds every int64 these files store
// exactly), except the attributes named in `skip`.
void expect_same_group(const io::H5Reader& a, const io::H5Reader& b, const std::string& group,
                       const std::set<std::string>& skip = {}) {
  ASSERT_EQ(a.members(group), b.members(group)) << group;
  auto compared = [&](const io::H5Reader& file) {
    std::vector<std::string> names;
    for (const std::string& name : file.attribute_names(group))
      if (!skip.count(name)) names.push_back(name);
    return names;
  };
  ASSERT_EQ(compared(a), compared(b)) << group;
  for (const std::string& name : compared(a)) {
    try {
      EXPECT_EQ(a.attribute<double>(group, name), b.attribute<double>(group, name)) << group << "@" << name;
    } catch (const Error&) {
      EXPECT_EQ(a.attribute_string(group, name), b.attribute_string(group, name)) << group << "@" << name;
    }
  }
  for (const std::string& member : a.members(group)) {
    const std::string path = group + "/" + member;
    if (a.is_group(path)) {
      expect_same_group(a, b, path, skip);
      continue;
    }
    try {
      const io::H5Array<double> x = a.read<double>(path), y = b.read<double>(path);
      EXPECT_EQ(x.shape, y.shape) << path;
      EXPECT_EQ(x.values, y.values) << path;  // exact
    } catch (const Error&) {
      EXPECT_EQ(a.read_strings(path), b.read_strings(path)) << path;
    }
  }
}

class Resume : public ::testing::Test {
 protected:
  // Runs the experiment and keeps a copy of the results.h5 it wrote in `out`
  // as kept(name).
  static test::CommandResult run_kept(const std::string& name, int ranks, const fs::path& toml, const fs::path& out,
                                      const std::string& arguments = "") {
    test::CommandResult result = run(ranks, toml, arguments);
    fs::create_directories(dir_ / "kept");
    if (result.exit_code == 0) fs::copy_file(out / "results.h5", kept(name), fs::copy_options::overwrite_existing);
    return result;
  }
  static fs::path kept(const std::string& name) { return dir_ / "kept" / (name + ".h5"); }

  static void SetUpTestSuite() {
    dir_ = test::temp_dir("resume-e2e");
    write_text(dir_ / "prose.txt",
               "It was the best of times, it was the worst of times; the age "
               "of wisdom. ",
               3000);
    write_text(dir_ / "lists.txt", "apples, pears, plums; 1, 2, 3, 5, 8, 13, 21, 34; red green blue. ", 3000);
    write_text(dir_ / "code.txt", "for (int i = 0; i < n; ++i) { total += values[i] * 2; }\n", 3000);

    // GPTQ: a first run, a resumed one with another [allocation], the same
    // again, and a fresh one with it.
    const fs::path gptq = write_gptq_experiment(dir_), gptq_out = dir_ / "gptq";
    const fs::path index = gptq_out / "quantized-model" / "model.safetensors.index.json";
    gptq_first_ = run_kept("gptq-first", 2, gptq, gptq_out);
    gptq_changed_ = run_kept("gptq-changed", 2, gptq, gptq_out, "--set allocation.target_bits=2.5");
    index_written_ = fs::last_write_time(index);
    gptq_again_ = run_kept("gptq-again", 2, gptq, gptq_out, "--set allocation.target_bits=2.5");
    index_after_reuse_ = fs::last_write_time(index);
    gptq_fresh_ = run(2, gptq,
                      "--set allocation.target_bits=2.5 --set "
                      "runtime.resume=false --output " +
                          shell_quoted(dir_ / "gptq-fresh"));
    fs::remove(index);
    gptq_incomplete_ = run(2, gptq, "--set allocation.target_bits=2.5");

    // Statistics: what makes them stale, and what does not.
    const fs::path stats = write_statistics_experiment(dir_), stats_out = dir_ / "stats";
    const std::string changed = "--set calibration.1.seq_len=16 --set experiment.seed=6";
    stats_first_ = run_kept("stats-first", 2, stats, stats_out);
    stats_fit_ =
        run_kept("stats-fit", 2, stats, stats_out, "--set analysis.fit=mean_var --set analysis.channel_fraction=0.05");
    stats_calibration_ = run_kept("stats-calibration", 2, stats, stats_out, "--set calibration.1.seq_len=16");
    stats_seed_ = run_kept("stats-seed", 2, stats, stats_out, changed);
    stats_ranks_ = run_kept("stats-ranks", 1, stats, stats_out, changed);
    // The same corpus, rewritten: only its modification time changes.
    fs::last_write_time(dir_ / "prose.txt", fs::last_write_time(dir_ / "prose.txt") + std::chrono::seconds(1));
    stats_file_ = run_kept("stats-file", 1, stats, stats_out, changed);
    std::ofstream(stats_out / "results.h5") << "not an HDF5 file";
    stats_corrupt_ = run_kept("stats-corrupt", 2, stats, stats_out);
    fs::remove(stats_out / "results.h5");
    stats_missing_ = run_kept("stats-missing", 2, stats, stats_out);
    stats_allocate_only_ = run_kept("stats-allocate-only", 2, stats, stats_out,
                                    "--set 'experiment.stages=[\"allocate\"]' "
                                    "--set allocation.target_bits=2.5");
    stats_allocate_fresh_ = run(2, stats,
                                "--set allocation.target_bits=2.5 --set "
                                "runtime.resume=false --output " +
                                    shell_quoted(dir_ / "stats-fresh"));
    stats_nothing_to_reuse_ =
        run(2, stats, "--set 'experiment.stages=[\"allocate\"]' --output " + shell_quoted(dir_ / "stats-empty"));
    // Another output folder, the statistics of stats_out: calibrate once, allocate in many folders.
    stats_elsewhere_ = run_kept("stats-elsewhere", 2, stats, dir_ / "stats-elsewhere",
                                "--set 'experiment.stages=[\"allocate\"]' --set allocation.target_bits=2.5 "
                                "--set runtime.statistics_from=" + shell_quoted(stats_out) +
                                    " --output " + shell_quoted(dir_ / "stats-elsewhere"));

    const fs::path uniform = write_uniform_experiment(dir_);
    uniform_two_ranks_ = run(2, uniform);
    uniform_one_rank_ = run(1, uniform);
  }

  static void expect_reused_statistics(const test::CommandResult& result, const std::string& name,
                                       const fs::path& out) {
    ASSERT_EQ(result.exit_code, 0) << result.output;
    EXPECT_THAT(result.output, HasSubstr("calibrate: reusing the statistics of " + (out / "results.h5").string()))
        << result.output;
    EXPECT_THAT(result.output, Not(HasSubstr("[moqa] calibrate prose"))) << result.output;  // no forward pass
    EXPECT_EQ(io::H5Reader::open(kept(name)).attribute_int64("/analysis", "reused"), 1);
  }
  static void expect_recomputed(const test::CommandResult& result, const std::string& name, const std::string& why) {
    ASSERT_EQ(result.exit_code, 0) << result.output;
    EXPECT_THAT(result.output, HasSubstr("calibrate: not reusing earlier statistics (runtime.resume): " + why))
        << result.output;
    EXPECT_THAT(result.output, HasSubstr("[moqa] calibrate prose, lists: done")) << result.output;
    EXPECT_EQ(io::H5Reader::open(kept(name)).attribute_int64("/analysis", "reused"), 0);
  }

  static inline fs::path dir_;
  static inline test::CommandResult gptq_first_, gptq_changed_, gptq_again_, gptq_fresh_, gptq_incomplete_;
  static inline fs::file_time_type index_written_, index_after_reuse_;
  static inline test::CommandResult stats_first_, stats_fit_, stats_calibration_, stats_seed_, stats_ranks_,
      stats_file_, stats_corrupt_, stats_missing_, stats_allocate_only_, stats_allocate_fresh_, stats_nothing_to_reuse_,
      stats_elsewhere_;
  static inline test::CommandResult uniform_two_ranks_, uniform_one_rank_;
};

TEST_F(Resume, FirstRunHasNothingToReuse) {
  ASSERT_EQ(gptq_first_.exit_code, 0) << gptq_first_.output;
  EXPECT_THAT(gptq_first_.output, HasSubstr("calibrate: not reusing earlier statistics "
                                            "(runtime.resume): there is no "
                                            "earlier results.h5 in " +
                                            (dir_ / "gptq").string()));
  EXPECT_THAT(gptq_first_.output, HasSubstr("quantize: not reusing the quantized checkpoint "
                                            "(runtime.resume): there "
                                            "is no " +
                                            (dir_ / "gptq" / "quantized-model").string()));
  EXPECT_THAT(gptq_first_.output, Not(HasSubstr("not implemented")));
  EXPECT_TRUE(fs::exists(dir_ / "gptq" / "quantized-model" / "moqa_resume.json"));
}

TEST_F(Resume, ChangedAllocationReusesTheStatisticsAndAllocatesLikeAFreshRun) {
  expect_reused_statistics(gptq_changed_, "gptq-changed", dir_ / "gptq");
  ASSERT_EQ(gptq_fresh_.exit_code, 0) << gptq_fresh_.output;
  const io::H5Reader resumed = io::H5Reader::open(kept("gptq-changed"));
  const io::H5Reader fresh = io::H5Reader::open(dir_ / "gptq-fresh" / "results.h5");
  EXPECT_EQ(resumed.attribute_string("/analysis", "reused_from"), (dir_ / "gptq" / "results.h5").string());
  EXPECT_EQ(resumed.attribute_string("/analysis", "reused_from_utc_finish"),
            io::H5Reader::open(kept("gptq-first")).attribute_string("/provenance", "utc_finish"));
  EXPECT_EQ(resumed.attribute_string("/analysis", "computed_git_commit"),
            fresh.attribute_string("/provenance", "git_commit"));
  EXPECT_EQ(fresh.attribute_int64("/analysis", "reused"), 0);
  expect_same_group(resumed, fresh, "/analysis", {"reused", "reused_from", "reused_from_utc_finish"});
  expect_same_group(resumed, fresh, "/allocation");
  EXPECT_EQ(resumed.attribute_double("/allocation", "target_bits"), 2.5);
}

TEST_F(Resume, UnchangedRunReusesTheQuantizedCheckpoint) {
  ASSERT_EQ(gptq_changed_.exit_code, 0) << gptq_changed_.output;
  // The allocation changed: the first run's checkpoint is not reused.
  EXPECT_THAT(gptq_changed_.output, HasSubstr("quantize: not reusing the quantized checkpoint (runtime.resume): "
                                              "allocation bits of MoE layer 0 is "));
  expect_reused_statistics(gptq_again_, "gptq-again", dir_ / "gptq");
  EXPECT_THAT(gptq_again_.output,
              HasSubstr("quantize: reusing the quantized checkpoint " + (dir_ / "gptq" / "quantized-model").string()));
  EXPECT_THAT(gptq_again_.output, HasSubstr("quantize: 48 tensors loaded from the checkpoint"));
  EXPECT_THAT(gptq_again_.output,
              Not(HasSubstr("[moqa] quantize")));  // no GPTQ pass
  EXPECT_EQ(index_after_reuse_, index_written_);   // nor a new checkpoint

  const io::H5Reader again = io::H5Reader::open(kept("gptq-again"));
  const io::H5Reader changed = io::H5Reader::open(kept("gptq-changed"));
  EXPECT_EQ(again.attribute_int64("/quantization", "reused"), 1);
  EXPECT_EQ(changed.attribute_int64("/quantization", "reused"), 0);
  EXPECT_EQ(again.attribute_string("/quantization", "reused_from"), (dir_ / "gptq" / "quantized-model").string());
  EXPECT_EQ(again.attribute_string("/quantization", "computed_git_commit"),
            changed.attribute_string("/provenance", "git_commit"));
  const std::set<std::string> run_specific{"seconds", "reused", "reused_from", "reused_from_utc",
                                           "computed_git_commit"};
  expect_same_group(again, changed, "/quantization", run_specific);
  // The loaded model (with the channel cache stored in the checkpoint: GPTQ's
  // final values of the exact columns; also re-quantized for the novel set)
  // computes what the quantized one did.
  for (const std::string set : {"prose", "code"}) {
    const std::string nll = "/metrics/quantized/" + set + "/nll_sum";
    EXPECT_EQ(again.read<double>(nll).values, changed.read<double>(nll).values) << nll;
  }
  EXPECT_EQ(again.attribute_int64("/metrics/quantized/code", "channel_adjusted"), 1);
}

TEST_F(Resume, IncompleteCheckpointIsQuantizedAgain) {
  ASSERT_EQ(gptq_incomplete_.exit_code, 0) << gptq_incomplete_.output;
  EXPECT_THAT(gptq_incomplete_.output, HasSubstr("quantize: not reusing the quantized checkpoint "
                                                 "(runtime.resume): cannot open it: "));
  EXPECT_THAT(gptq_incomplete_.output, HasSubstr("[moqa] quantize: done"));
  EXPECT_TRUE(fs::exists(dir_ / "gptq" / "quantized-model" / "model.safetensors.index.json"));
}

TEST_F(Resume, KeysTheAllocationAloneReadsDoNotMatter) {
  ASSERT_EQ(stats_first_.exit_code, 0) << stats_first_.output;
  expect_reused_statistics(stats_fit_, "stats-fit", dir_ / "stats");
  EXPECT_EQ(io::H5Reader::open(kept("stats-fit")).attribute_string("/analysis", "fit"), "mean_var");
}

TEST_F(Resume, ChangedCalibrationSeedRanksOrCorpusRecomputes) {
  expect_recomputed(stats_calibration_, "stats-calibration",
                    "calibration.1.seq_len is 16 in this run, 24 in the earlier one");
  expect_recomputed(stats_seed_, "stats-seed", "experiment.seed is 6 in this run, 5 in the earlier one");
  expect_recomputed(stats_ranks_, "stats-ranks", "ranks is 1 in this run, 2 in the earlier one");
  expect_recomputed(stats_file_, "stats-file", "file " + (dir_ / "prose.txt").string() + " is ");
}

TEST_F(Resume, CorruptOrMissingResultsFileRecomputes) {
  expect_recomputed(stats_corrupt_, "stats-corrupt",
                    "cannot read it: HDF5 file '" + (dir_ / "stats" / "results.h5").string() + "'");
  expect_recomputed(stats_missing_, "stats-missing", "there is no earlier results.h5 in " + (dir_ / "stats").string());
}

TEST_F(Resume, AllocateOnlyRunTakesTheEarlierStatistics) {
  expect_reused_statistics(stats_allocate_only_, "stats-allocate-only", dir_ / "stats");
  ASSERT_EQ(stats_allocate_fresh_.exit_code, 0) << stats_allocate_fresh_.output;
  const io::H5Reader resumed = io::H5Reader::open(kept("stats-allocate-only"));
  const io::H5Reader fresh = io::H5Reader::open(dir_ / "stats-fresh" / "results.h5");
  EXPECT_EQ(resumed.read_strings("/provenance/stages"), std::vector<std::string>{"allocate"});
  expect_same_group(resumed, fresh, "/allocation");

  EXPECT_NE(stats_nothing_to_reuse_.exit_code, 0) << stats_nothing_to_reuse_.output;
  EXPECT_THAT(stats_nothing_to_reuse_.output, HasSubstr("calibrate: not reusing earlier statistics "
                                                        "(runtime.resume): there is no earlier results.h5"));
  EXPECT_THAT(stats_nothing_to_reuse_.output, HasSubstr("allocation.method = \"moqa\" needs calibration statistics: "
                                                        "add \"calibrate\" to "
                                                        "experiment.stages (runtime.resume found none to reuse in " +
                                                        (dir_ / "stats-empty").string()));
  EXPECT_FALSE(fs::exists(dir_ / "stats-empty" / "results.h5"));
}

TEST_F(Resume, StatisticsFromAnotherRunsFolder) {
  expect_reused_statistics(stats_elsewhere_, "stats-elsewhere", dir_ / "stats");
  const io::H5Reader elsewhere = io::H5Reader::open(dir_ / "stats-elsewhere" / "results.h5");
  EXPECT_EQ(elsewhere.attribute_string("/analysis", "reused_from"), (dir_ / "stats" / "results.h5").string());
  expect_same_group(elsewhere, io::H5Reader::open(dir_ / "stats-fresh" / "results.h5"), "/allocation");
}

TEST_F(Resume, RtnCheckpointIsReusedOnAnotherRankCount) {
  ASSERT_EQ(uniform_two_ranks_.exit_code, 0) << uniform_two_ranks_.output;
  ASSERT_EQ(uniform_one_rank_.exit_code, 0) << uniform_one_rank_.output;
  EXPECT_THAT(uniform_one_rank_.output, HasSubstr("quantize: reusing the quantized checkpoint"));
  EXPECT_TRUE(fs::exists(dir_ / "uniform" / "quantized-model" / "model-q-00002-of-00002.safetensors"));
}

// The reader checks what it reads against the model: a distribution whose
// window_starts do not match its window count is refused, naming the file
// and the dataset.
TEST_F(Resume, ReaderRefusesInconsistentStatistics) {
  ASSERT_EQ(gptq_fresh_.exit_code, 0) << gptq_fresh_.output;
  const ModelConfig config = load_hf_config(model_dir() / "config.json");
  config::AnalysisSection options;
  const std::vector<std::string> names{"prose", "lists"};
  analysis::CalibrationResult result =
      analysis::read_calibration(io::H5Reader::open(dir_ / "gptq-fresh" / "results.h5"), names, options, config);
  ASSERT_EQ(result.distributions.size(), 2u);
  EXPECT_EQ(result.synthesized.size(), 2u);
  result.distributions[0].window_starts.pop_back();
  const fs::path broken = dir_ / "broken.h5";
  {
    io::H5Writer w = io::H5Writer::create(broken);
    for (const auto& d : result.distributions) analysis::write_distribution(w, d, options);
    analysis::write_analysis_header(w, result);
    w.commit();
  }
  try {
    analysis::read_calibration(io::H5Reader::open(broken), names, options, config);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(broken.string() + ": /analysis/prose/window_starts: shape [5], expected [6]"));
  }
  EXPECT_THROW(analysis::read_calibration(io::H5Reader::open(broken), {"prose"}, options, config), Error);
}

}  // namespace
}  // namespace moqa::pipeline
