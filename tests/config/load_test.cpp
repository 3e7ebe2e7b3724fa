// Reading and validating experiment TOML: defaults, every kind of bad input (each asserting the exact
// file:line:column and dotted key of its message), and the bundled quickstart.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "config/diagnostics.h"
#include "config/load.h"
#include "config/schema.h"
#include "config/to_toml.h"
#include "config_fixture.h"
#include "support/test_support.h"

namespace moqa::config::test {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST_F(ConfigTest, MinimalConfigGetsDocumentedDefaults) {
  const Experiment e = parse(minimal());
  EXPECT_EQ(e.experiment.name, "t");
  EXPECT_EQ(e.experiment.seed, 0);
  EXPECT_EQ(e.experiment.output_dir, dir_ / "results" / "t");
  EXPECT_EQ(e.experiment.stages,
            (std::vector<Stage>{Stage::calibrate, Stage::allocate, Stage::quantize, Stage::evaluate}));
  EXPECT_EQ(e.model.path, dir_ / "model");
  EXPECT_EQ(e.model.tokenizer, dir_ / "model" / "tokenizer.json");
  EXPECT_EQ(e.model.compute_dtype, ComputeDtype::float32);
  ASSERT_EQ(e.calibration.size(), 1u);
  EXPECT_EQ(e.calibration[0].path, dir_ / "data" / "a.txt");
  EXPECT_EQ(e.calibration[0].format, data::CorpusFormat::text);
  EXPECT_EQ(e.calibration[0].samples, 32);
  EXPECT_EQ(e.calibration[0].seq_len, 512);
  EXPECT_EQ(e.calibration[0].max_tokens, 0);
  EXPECT_EQ(e.calibration[0].sampling, SampleMode::random_offsets);
  EXPECT_EQ(e.analysis, AnalysisSection{});
  EXPECT_EQ(e.allocation, AllocationSection{});
  EXPECT_EQ(e.quantization, QuantizationSection{});
  EXPECT_EQ(e.runtime, RuntimeSection{});
  ASSERT_EQ(e.evaluation.size(), 1u);
  EXPECT_EQ(e.evaluation[0].kind, EvalKind::perplexity);
  EXPECT_EQ(e.evaluation[0].stride, 512);
  EXPECT_EQ(e.evaluation[0].distribution, Distribution::novel);  // b.txt is not a calibration path
  EXPECT_FALSE(e.evaluation[0].task.has_value());
  EXPECT_TRUE(e.sweep.empty());
  EXPECT_EQ(e.run.index, -1);
  EXPECT_EQ(e.config_file, file());
}

TEST_F(ConfigTest, EveryKeyIsRead) {
  const Experiment e = parse(R"(
[experiment]
name = "full.run-1"
seed = 7
output_dir = "out/here"
stages = ["evaluate", "calibrate"]
description = "all keys"

[model]
path = "model/"
tokenizer = "bytes"
compute_dtype = "bfloat16"

[[calibration]]
name = "a"
path = "data/a.txt"
samples = 8
sampling = "disjoint"
seq_len = 64
max_tokens = 1000

[[calibration]]
name = "c"
path = "data/c.jsonl"
field = "body"

[analysis]
activation = false
significance = true
correlation = false
channel_significance = "hessian_diag"
router_weighted = false
token_reweighting = 0.5
sensitivity_bits = 3
fit = "mean_var"
fit_std_weight = 0.5
channel_fraction = 0.02
channel_measure = "range"

[allocation]
method = "budgeted"
target_bits = 2.5
candidate_bits = [8, 2, 3]
scope = "global"
enforce_budget = false
fcm_clusters = 3
fcm_m = 1.5
fcm_tolerance = 1e-4
fcm_max_iterations = 50
fcm_restarts = 2
overlap_margin = 0.2
budget_counts_all_linear = true
correlation_weight = 0.4
v1_threshold_mode = "quantile"
v1_threshold = 0.75
v1_high_bits = 8
v1_low_bits = 3
v1_coactivation = true
v1_coactivation_threshold = 0.25
frequency_fill = "depth"
max_dp_cells = 1000
count_in_average = ["experts", "lm_head"]

[quantization]
method = "rtn"
group_size = -1
symmetric = true
act_order = true
damp_percent = 0.1
block_size = 64
static_groups = true
gptq_variant = "updated-groups"
true_sequential = true
keep_full_precision = ["router", "lm_head"]
channel_adjustment = true
save_checkpoint = true
export_dequantized = true

[[evaluation]]
name = "known"
path = "data/a.txt"
seq_len = 128
stride = 64
max_tokens = 4096
keep_partial_last = true

[[evaluation]]
name = "piqa"
kind = "zero_shot"
path = "data/d.jsonl.xz"
task = "piqa"
distribution = "known"
limit = 100

[runtime]
device = "cpu"
threads = 3
batch_windows = 2
stream_weights = true
progress_interval_s = 0
resume = true
statistics_from = "calibrated"
)");
  EXPECT_EQ(e.experiment.name, "full.run-1");
  EXPECT_EQ(e.experiment.seed, 7);
  EXPECT_EQ(e.experiment.output_dir, dir_ / "out" / "here");
  EXPECT_EQ(e.experiment.stages, (std::vector<Stage>{Stage::calibrate, Stage::evaluate}));  // pipeline order
  EXPECT_EQ(e.experiment.description, "all keys");
  EXPECT_EQ(e.model.path, dir_ / "model");
  EXPECT_TRUE(e.model.byte_level_tokens());
  EXPECT_EQ(e.model.compute_dtype, ComputeDtype::bfloat16);
  ASSERT_EQ(e.calibration.size(), 2u);
  EXPECT_EQ(e.calibration[0].samples, 8);
  EXPECT_EQ(e.calibration[0].sampling, SampleMode::disjoint);
  EXPECT_EQ(e.calibration[0].seq_len, 64);
  EXPECT_EQ(e.calibration[0].max_tokens, 1000);
  EXPECT_EQ(e.calibration[1].format, data::CorpusFormat::jsonl);  // from the extension
  EXPECT_EQ(e.calibration[1].field, "body");
  EXPECT_FALSE(e.analysis.activation);
  EXPECT_FALSE(e.analysis.correlation);
  EXPECT_EQ(e.analysis.channel_significance, ChannelSignificance::hessian_diag);
  EXPECT_FALSE(e.analysis.router_weighted);
  EXPECT_DOUBLE_EQ(e.analysis.token_reweighting, 0.5);
  EXPECT_EQ(e.analysis.fit, SignificanceFit::mean_var);
  EXPECT_EQ(e.analysis.sensitivity_bits, 3);
  EXPECT_DOUBLE_EQ(e.analysis.fit_std_weight, 0.5);
  EXPECT_DOUBLE_EQ(e.analysis.channel_fraction, 0.02);
  EXPECT_EQ(e.analysis.channel_measure, ChannelMeasure::range);
  EXPECT_EQ(e.allocation.method, AllocationMethod::budgeted);
  EXPECT_DOUBLE_EQ(e.allocation.target_bits, 2.5);
  EXPECT_EQ(e.allocation.candidate_bits, (std::vector<int>{2, 3, 8}));  // sorted
  EXPECT_EQ(e.allocation.scope, AllocationScope::global);
  EXPECT_FALSE(e.allocation.enforce_budget);
  EXPECT_EQ(e.allocation.fcm_clusters, 3);
  EXPECT_DOUBLE_EQ(e.allocation.fcm_m, 1.5);
  EXPECT_DOUBLE_EQ(e.allocation.fcm_tolerance, 1e-4);
  EXPECT_EQ(e.allocation.fcm_max_iterations, 50);
  EXPECT_EQ(e.allocation.fcm_restarts, 2);
  EXPECT_DOUBLE_EQ(e.allocation.overlap_margin, 0.2);
  EXPECT_TRUE(e.allocation.budget_counts_all_linear);
  EXPECT_DOUBLE_EQ(e.allocation.correlation_weight, 0.4);
  EXPECT_EQ(e.allocation.v1_threshold_mode, ThresholdMode::quantile);
  EXPECT_DOUBLE_EQ(e.allocation.v1_threshold, 0.75);
  EXPECT_EQ(e.allocation.v1_high_bits, 8);
  EXPECT_EQ(e.allocation.v1_low_bits, 3);
  EXPECT_TRUE(e.allocation.v1_coactivation);
  EXPECT_DOUBLE_EQ(e.allocation.v1_coactivation_threshold, 0.25);
  EXPECT_EQ(e.allocation.frequency_fill, FrequencyFill::depth);
  EXPECT_EQ(e.allocation.max_dp_cells, 1000);
  EXPECT_EQ(e.allocation.count_in_average, (std::vector<WeightGroup>{WeightGroup::experts, WeightGroup::lm_head}));
  EXPECT_EQ(e.quantization.method, QuantMethod::rtn);
  EXPECT_EQ(e.quantization.group_size, 0);  // -1 and 0 both mean per-channel
  EXPECT_TRUE(e.quantization.symmetric);
  EXPECT_TRUE(e.quantization.act_order);
  EXPECT_DOUBLE_EQ(e.quantization.damp_percent, 0.1);
  EXPECT_EQ(e.quantization.block_size, 64);
  EXPECT_TRUE(e.quantization.static_groups);
  EXPECT_EQ(e.quantization.gptq_variant, quant::GptqVariant::updated_groups);
  EXPECT_TRUE(e.quantization.true_sequential);
  EXPECT_TRUE(e.quantization.keeps(WeightGroup::router));
  EXPECT_FALSE(e.quantization.keeps(WeightGroup::attention));
  EXPECT_EQ(e.quantization.channel_adjustment, ChannelAdjustment::reallocate);
  EXPECT_TRUE(e.quantization.save_checkpoint);
  EXPECT_TRUE(e.quantization.export_dequantized);
  ASSERT_EQ(e.evaluation.size(), 2u);
  EXPECT_EQ(e.evaluation[0].distribution, Distribution::known);  // same path as calibration "a"
  EXPECT_EQ(e.evaluation[0].seq_len, 128);
  EXPECT_EQ(e.evaluation[0].stride, 64);
  EXPECT_EQ(e.evaluation[0].max_tokens, 4096);
  EXPECT_TRUE(e.evaluation[0].keep_partial_last);
  EXPECT_EQ(e.evaluation[1].kind, EvalKind::zero_shot);
  EXPECT_EQ(e.evaluation[1].format, data::CorpusFormat::jsonl);
  EXPECT_EQ(e.evaluation[1].task, data::TaskFormat::piqa);
  EXPECT_EQ(e.evaluation[1].distribution, Distribution::known);
  EXPECT_EQ(e.evaluation[1].limit, 100);
  EXPECT_EQ(e.runtime.device, Device::cpu);
  EXPECT_EQ(e.runtime.threads, 3);
  EXPECT_EQ(e.runtime.batch_windows, 2);
  EXPECT_TRUE(e.runtime.stream_weights);
  EXPECT_DOUBLE_EQ(e.runtime.progress_interval_s, 0.0);
  EXPECT_TRUE(e.runtime.resume);
  EXPECT_EQ(e.runtime.statistics_from, dir_ / "calibrated");
}

TEST_F(ConfigTest, SyntaxErrorNamesLineAndColumn) {
  const std::string message = error("[experiment]\nname = \"t\"\nseed = = 3\n");
  EXPECT_THAT(message, StartsWith(where(3, 8) + ": TOML syntax error: "));
}

TEST_F(ConfigTest, UnknownKeySuggestsTheClosestKnownKey) {
  EXPECT_EQ(error(minimal() + "\n[allocation]\ntarget_bit = 3\n"),
            where(16, 1) + ": allocation.target_bit: found unknown key \"target_bit\", expected a key of [allocation] "
                           "(did you mean \"target_bits\"?)");
  EXPECT_EQ(error(minimal() + "\n[runtime]\ngpu = 1\n"),
            where(16, 1) + ": runtime.gpu: found unknown key \"gpu\", expected one of \"device\", \"threads\", "
                           "\"batch_windows\", \"stream_weights\", \"hidden_state_memory_mib\", "
                           "\"progress_interval_s\", \"memory_limit\", \"resume\" or \"statistics_from\"");
}

TEST_F(ConfigTest, UnknownTableSuggestsTheClosestTable) {
  EXPECT_THAT(error(minimal() + "\n[quantisation]\nmethod = \"rtn\"\n"),
              StartsWith(where(15, 2) + ": quantisation: found unknown key \"quantisation\", expected a table name "
                                        "(did you mean \"quantization\"?)"));
  EXPECT_EQ(error("[tables]\n" + minimal()),
            where(1, 2) + ": tables: found unknown key \"tables\", expected one of \"experiment\", \"model\", "
                          "\"calibration\", \"analysis\", \"allocation\", \"quantization\", \"evaluation\", "
                          "\"runtime\" or \"sweep\"");
}

TEST_F(ConfigTest, KeyInTheWrongTablePointsToTheRightOne) {
  EXPECT_THAT(error(minimal() + "\n[runtime]\nseq_len = 64\n"),
              AllOf(StartsWith(where(16, 1) + ": runtime.seq_len: found unknown key \"seq_len\""),
                    HasSubstr("(did you mean \"seq_len\" in [[calibration]]?)")));
}

TEST_F(ConfigTest, UnknownKeyInArrayOfTablesNamesTheElement) {
  std::string text = minimal();
  text.insert(text.find("\n\n[[evaluation]]"), "\nsamples_ = 3");
  EXPECT_THAT(error(text), AllOf(StartsWith(where(10, 1) + ": calibration.0.samples_: found unknown key"),
                                 HasSubstr("(did you mean \"samples\"?)")));
}

TEST_F(ConfigTest, WrongTypeSaysWhatWasFoundAndWhatIsExpected) {
  EXPECT_EQ(error(minimal() + "\n[allocation]\ntarget_bits = \"three\"\n"),
            where(16, 15) + ": allocation.target_bits: found string \"three\", expected a number in [1, 16]");
  EXPECT_EQ(error(minimal() + "\n[runtime]\nresume = 1\n"),
            where(16, 10) + ": runtime.resume: found integer 1, expected a boolean (true or false)");
  EXPECT_EQ(error(minimal() + "\n[quantization]\ngroup_size = 64.0\n"),
            where(16, 14) + ": quantization.group_size: found float 64.0, expected an integer >= -1");
  EXPECT_EQ(error(minimal() + "\n[experiment.extra]\n"),
            where(15, 13) + ": experiment.extra: found unknown key \"extra\", expected one of \"name\", \"seed\", "
                           "\"output_dir\", \"stages\" or \"description\"");
}

TEST_F(ConfigTest, TableWrittenAsValueIsRejected) {
  EXPECT_EQ(error("runtime = 3\n" + minimal()),
            where(1, 11) + ": runtime: found integer 3, expected a [runtime] table");
  std::string text = "calibration = 1\n" + minimal();
  text.erase(text.find("[[calibration]]"), text.find("[[evaluation]]") - text.find("[[calibration]]"));
  EXPECT_THAT(errors(text).front(),
              StartsWith(where(1, 15) + ": calibration: found integer 1, expected an array of tables ([[calibration]])"));
}

TEST_F(ConfigTest, EnumTypoSuggestsTheClosestValue) {
  EXPECT_EQ(error(minimal() + "\n[quantization]\nmethod = \"gtpq\"\n"),
            where(16, 10) +
                ": quantization.method: found string \"gtpq\", expected one of \"rtn\" or \"gptq\" (did you mean "
                "\"gptq\"?)");
}

TEST_F(ConfigTest, MissingRequiredKeyPointsAtItsTable) {
  std::string text = minimal();
  text.erase(text.find("path = \"model\"\n"), std::string("path = \"model\"\n").size());
  EXPECT_EQ(error(text), where(4, 1) + ": model.path: missing, expected the path of an existing directory");
}

TEST_F(ConfigTest, MissingRequiredTable) {
  std::string text = minimal();
  text.erase(0, text.find("[model]"));
  EXPECT_EQ(error(text), where(1, 1) + ": experiment: missing table, expected a [experiment] table");
}

TEST_F(ConfigTest, MissingFileIsResolvedAgainstTheTomlDirectory) {
  std::string text = minimal();
  text.replace(text.find("data/a.txt"), 10, "data/missing.txt");
  EXPECT_EQ(error(text), where(9, 8) + ": calibration.0.path: found \"data/missing.txt\" (" +
                             (dir_ / "data" / "missing.txt").string() +
                             ") which does not exist, expected the path of an existing file");
}

TEST_F(ConfigTest, FileWhereDirectoryExpectedAndViceVersa) {
  std::string text = minimal();
  text.replace(text.find("\"model\""), 7, "\"data/a.txt\"");
  EXPECT_THAT(error(text), StartsWith(where(5, 8) + ": model.path: found \"data/a.txt\" ("));
  EXPECT_THAT(error(text), HasSubstr("which is not a directory, expected the path of an existing directory"));
  text = minimal();
  text.replace(text.find("data/a.txt"), 10, "data");
  EXPECT_THAT(error(text), AllOf(StartsWith(where(9, 8) + ": calibration.0.path:"), HasSubstr("which is a directory")));
}

TEST_F(ConfigTest, ModelDirectoryNeedsConfigJson) {
  std::filesystem::create_directories(dir_ / "empty_model");
  touch(dir_ / "empty_model" / "tokenizer.json", "{}");
  std::string text = minimal();
  text.replace(text.find("\"model\""), 7, "\"empty_model\"");
  EXPECT_EQ(error(text), where(5, 8) + ": model.path: found directory \"" + (dir_ / "empty_model").string() +
                             "\" without config.json, expected a Hugging Face model directory");
}

TEST_F(ConfigTest, MissingDefaultTokenizerSaysHowToOptOut) {
  std::filesystem::remove(dir_ / "model" / "tokenizer.json");
  EXPECT_THAT(error(minimal()),
              AllOf(StartsWith(where(4, 1) + ": model.tokenizer: missing, and the default \""),
                    HasSubstr("or \"bytes\" for byte-level ids")));
}

TEST_F(ConfigTest, EnvironmentVariablesExpandInPaths) {
  ::setenv("MOQA_CONFIG_TEST_DATA", (dir_ / "data").c_str(), 1);
  std::string text = minimal();
  text.replace(text.find("data/a.txt"), 10, "${MOQA_CONFIG_TEST_DATA}/a.txt");
  EXPECT_EQ(parse(text).calibration[0].path, dir_ / "data" / "a.txt");

  ::unsetenv("MOQA_CONFIG_TEST_UNSET");
  text = minimal();
  text.replace(text.find("data/a.txt"), 10, "${MOQA_CONFIG_TEST_UNSET}/a.txt");
  EXPECT_EQ(error(text), where(9, 8) +
                             ": calibration.0.path: found string \"${MOQA_CONFIG_TEST_UNSET}/a.txt\" with an undefined "
                             "environment variable MOQA_CONFIG_TEST_UNSET, expected the path of an existing file");
}

TEST_F(ConfigTest, ImpossibleValuesAreRejected) {
  auto with = [&](const std::string& extra) { return error(minimal() + extra); };
  EXPECT_EQ(with("samples = -4\n"), where(14, 1) + ": evaluation.0.samples: found unknown key \"samples\", expected "
                                                   "a key of [[evaluation]] (did you mean \"samples\" in "
                                                   "[[calibration]]?)")
      << "keys after [[evaluation]] belong to it";

  std::string text = minimal();
  text.insert(text.find("\n\n[[evaluation]]"), "\nsamples = -4\nseq_len = 0");
  const auto messages = errors(text);
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0], where(10, 11) + ": calibration.0.samples: found integer -4, expected an integer >= 1");
  EXPECT_EQ(messages[1], where(11, 11) + ": calibration.0.seq_len: found integer 0, expected an integer >= 1");

  EXPECT_EQ(with("\n[analysis]\nchannel_fraction = 1.5\n"),
            where(16, 20) + ": analysis.channel_fraction: found float 1.5, expected a number in (0, 1]");
  EXPECT_EQ(with("\n[analysis]\ntoken_reweighting = -0.5\n"),
            where(16, 21) + ": analysis.token_reweighting: found float -0.5, expected a number >= 0");
  EXPECT_EQ(with("\n[allocation]\nfcm_m = 1\n"),
            where(16, 9) + ": allocation.fcm_m: found integer 1, expected a number > 1");
  EXPECT_EQ(with("\n[quantization]\ndamp_percent = 0\n"),
            where(16, 16) + ": quantization.damp_percent: found integer 0, expected a number in (0, 1]");
  EXPECT_EQ(with("\n[runtime]\nstatistics_from = \"earlier\"\n"),
            where(16, 19) + ": runtime.statistics_from: found a folder while runtime.resume = false, expected "
                            "runtime.resume = true as well (statistics of an earlier run are only reused when "
                            "resuming)");
  EXPECT_EQ(with("\n[runtime]\nbatch_windows = 0\n"),
            where(16, 17) + ": runtime.batch_windows: found integer 0, expected an integer >= 1");
  EXPECT_EQ(with("\n[allocation]\nv1_high_bits = 5\n"),
            where(16, 16) + ": allocation.v1_high_bits: found integer 5, expected one of 0, 2, 3, 4, 6 or 8");
}

TEST_F(ConfigTest, StrideLongerThanTheWindowIsRejected) {
  EXPECT_EQ(error(minimal() + "seq_len = 128\nstride = 256\n"),
            where(15, 10) +
                ": evaluation.0.stride: found 256, expected at most seq_len = 128 (windows may overlap, not leave gaps)");
}

TEST_F(ConfigTest, PerplexityProtocolsFixTheirWindows) {
  EXPECT_EQ(parse(minimal()).evaluation[0].protocol, PerplexityProtocol::windows);
  const Experiment wiki = parse(minimal() + "protocol = \"gptq-wikitext2\"\nseq_len = 2048\n");
  EXPECT_EQ(wiki.evaluation[0].protocol, PerplexityProtocol::gptq_wikitext2);
  EXPECT_EQ(wiki.evaluation[0].stride, 2048);
  EXPECT_EQ(parse(minimal() + "protocol = \"gptq-c4-new\"\nstride = 512\n", {"evaluation.0.path=data/c.jsonl"})
                .evaluation[0]
                .protocol,
            PerplexityProtocol::gptq_c4_new);
  const std::string gptq = minimal() + "protocol = \"gptq-wikitext2\"\n";
  const std::string fixed = " (the protocol fixes which tokens are scored; protocol = \"windows\" takes any)";
  EXPECT_EQ(error(gptq + "stride = 256\n"),
            where(15, 10) +
                ": evaluation.0.stride: found 256 with protocol = \"gptq-wikitext2\", expected seq_len = "
                "512 or no stride" +
                fixed);
  EXPECT_EQ(error(gptq + "keep_partial_last = true\n"),
            where(15, 21) +
                ": evaluation.0.keep_partial_last: found true with protocol = \"gptq-wikitext2\", "
                "expected false" +
                fixed);
  EXPECT_EQ(
      error(gptq + "max_tokens = 4096\n"),
      where(15, 14) + ": evaluation.0.max_tokens: found 4096 with protocol = \"gptq-wikitext2\", expected 0" + fixed);
  EXPECT_EQ(error(minimal() + "protocol = \"gptq-c4-new\"\n"),
            where(14, 12) +
                ": evaluation.0.format: found \"text\" (b.txt) with protocol = \"gptq-c4-new\", expected "
                "\"jsonl\": the protocol joins the first 1,100 C4 documents, one JSON record each");
  EXPECT_EQ(error(minimal() + "kind = \"zero_shot\"\ntask = \"rte\"\nprotocol = \"gptq-c4-new\"\n"),
            where(16, 12) +
                ": evaluation.0.protocol: found \"gptq-c4-new\" with kind = \"zero_shot\", expected "
                "\"windows\" or no protocol (protocols are for kind = \"perplexity\")");
  EXPECT_EQ(parse(minimal(), {"calibration.0.sampling=gptq"}).calibration[0].sampling, SampleMode::gptq);
}

// [[evaluation]] profile / profile_path / profile_tokens (docs/CONFIG.md): "file" when profile_path is given,
// a re-allocating run must say how a novel set is profiled, the leading slice defaults to the first calibration
// set's samples x seq_len, and each misuse is an error naming its key.
TEST_F(ConfigTest, NovelProfileDefaultsAndErrorsNameTheKey) {
  touch(dir_ / "data" / "b-train.txt", "beta beta\n");
  const Experiment plain = parse(minimal());
  EXPECT_EQ(plain.evaluation[0].profile, NovelProfile::transductive);  // nothing profiles it
  EXPECT_EQ(plain.evaluation[0].first_scored_token(), 0);
  const Experiment file = parse(minimal() + "profile_path = \"data/b-train.txt\"\n");
  EXPECT_EQ(file.evaluation[0].profile, NovelProfile::file);
  EXPECT_EQ(file.evaluation[0].profile_path, dir_ / "data" / "b-train.txt");
  EXPECT_EQ(file.evaluation[0].first_scored_token(), 0);
  // Two calibration sets (the first: samples 8 x seq_len 64, the slice default) and a re-allocating run.
  const auto with = [](const std::string& keys) {
    return "[experiment]\nname = \"t\"\n\n[model]\npath = \"model\"\n\n"
           "[[calibration]]\nname = \"a\"\npath = \"data/a.txt\"\nsamples = 8\nseq_len = 64\n\n"
           "[[calibration]]\nname = \"c\"\npath = \"data/c.jsonl\"\nsamples = 8\nseq_len = 64\n\n"
           "[quantization]\nchannel_adjustment = \"reallocate\"\n\n"
           "[[evaluation]]\nname = \"e\"\npath = \"data/b.txt\"\n" +
           keys;  // [[evaluation]] on line 22
  };
  EXPECT_EQ(error(with("")),
            where(22, 1) + ": evaluation.0.profile: missing, expected profile_path = another file of this "
                           "distribution (e.g. its training split), profile = \"leading_slice\" (its first "
                           "profile_tokens tokens, which are then not scored) or profile = \"transductive\" "
                           "(windows of the scored text itself), because quantization.channel_adjustment = "
                           "\"reallocate\" profiles this novel set");
  EXPECT_EQ(parse(with("profile = \"transductive\"\n")).evaluation[0].profile, NovelProfile::transductive);
  const Experiment slice = parse(with("profile = \"leading_slice\"\n"));
  EXPECT_EQ(slice.evaluation[0].profile_tokens, 8 * 64);
  EXPECT_EQ(slice.evaluation[0].first_scored_token(), 8 * 64);
  EXPECT_EQ(parse(to_toml(slice)), slice);
  EXPECT_EQ(parse(to_toml(file)), file);
  EXPECT_EQ(parse(with("profile = \"leading_slice\"\nprofile_tokens = 1000\n")).evaluation[0].first_scored_token(),
            1000);
  EXPECT_THAT(error(with("profile = \"file\"\n")),
              HasSubstr("evaluation.0.profile_path: missing, expected the path of another file"));
  EXPECT_THAT(error(with("profile = \"leading_slice\"\nprofile_path = \"data/b-train.txt\"\n")),
              HasSubstr("evaluation.0.profile_path: found a file with profile = \"leading_slice\", expected "
                        "profile = \"file\" or no profile_path"));
  EXPECT_THAT(error(with("profile = \"transductive\"\nprofile_tokens = 100\n")),
              HasSubstr("evaluation.0.profile_tokens: found 100 with profile = \"transductive\", expected no "
                        "profile_tokens"));
  EXPECT_THAT(error(with("profile = \"leading_slice\"\nprofile_tokens = 10\n")),
              HasSubstr("evaluation.0.profile_tokens: found 10, expected at least seq_len = 64"));
  EXPECT_THAT(error(with("profile = \"leading_slice\"\nmax_tokens = 1000\n")),
              HasSubstr("evaluation.0.profile_tokens: found 512 with max_tokens = 1000, expected at most 488"));
  EXPECT_THAT(error(with("profile = \"leading_slice\"\nprotocol = \"gptq-wikitext2\"\n")),
              HasSubstr("evaluation.0.profile: found \"leading_slice\" with protocol = \"gptq-wikitext2\""));
  EXPECT_THAT(error(minimal() + "distribution = \"known\"\nprofile = \"file\"\n"),
              HasSubstr("evaluation.0.profile: found \"file\" with distribution = \"known\", expected no such key"));
  EXPECT_THAT(error(minimal() + "profile = \"shuffled\"\n"), HasSubstr("evaluation.0.profile"));
}

TEST_F(ConfigTest, TargetBitsMustLieInTheCandidateRange) {
  EXPECT_EQ(error(minimal() + "\n[allocation]\ntarget_bits = 9\n"),
            where(16, 15) +
                ": allocation.target_bits: found 9.0, expected a number in [2, 8] (the range of "
                "candidate_bits [2, 4, 6, 8])");
  EXPECT_EQ(error(minimal() + "\n[allocation]\ncandidate_bits = [4, 8]\ntarget_bits = 3\n"),
            where(17, 15) + ": allocation.target_bits: found 3.0, expected a number in [4, 8] (the range of "
                            "candidate_bits [4, 8])");
  EXPECT_EQ(error(minimal() + "\n[allocation]\nmethod = \"uniform\"\ntarget_bits = 2.5\n"),
            where(17, 15) + ": allocation.target_bits: found 2.5 with method = \"uniform\", expected one of the "
                            "widths 2, 3, 4, 6 or 8");
  EXPECT_DOUBLE_EQ(parse(minimal() + "\n[allocation]\nmethod = \"uniform\"\ntarget_bits = 3\n").allocation.target_bits,
                   3.0);
}

TEST_F(ConfigTest, V1WidthsMustBeCandidatesInOrder) {
  EXPECT_EQ(error(minimal() + "\n[allocation]\nmethod = \"moqa-v1\"\nv1_high_bits = 3\n"),
            where(17, 16) + ": allocation.v1_high_bits: found 3, expected 0 (automatic) or one of candidate_bits "
                            "[2, 4, 6, 8]");
  EXPECT_EQ(error(minimal() + "\n[allocation]\nmethod = \"moqa-v1\"\nv1_low_bits = 6\nv1_high_bits = 4\n"),
            where(17, 15) + ": allocation.v1_low_bits: found 6 with v1_high_bits = 4, expected fewer bits than "
                            "v1_high_bits");
  EXPECT_EQ(error(minimal() + "\n[allocation]\nv1_threshold_mode = \"quantile\"\nv1_threshold = 1.5\n"),
            where(17, 16) + ": allocation.v1_threshold: found 1.5 with v1_threshold_mode = \"quantile\", expected "
                            "a number in [0, 1]");
  // Only moqa-v1 reads the v1 widths.
  EXPECT_EQ(parse(minimal() + "\n[allocation]\nv1_high_bits = 3\n").allocation.v1_high_bits, 3);
}

TEST_F(ConfigTest, CandidateBitsMustBeDistinctSupportedWidths) {
  EXPECT_EQ(error(minimal() + "\n[allocation]\ncandidate_bits = [2, 5]\n"),
            where(16, 22) + ": allocation.candidate_bits: found integer 5, expected one of 2, 3, 4, 6 or 8");
  EXPECT_EQ(error(minimal() + "\n[allocation]\ncandidate_bits = [4, 2, 4]\n"),
            where(16, 25) + ": allocation.candidate_bits: found integer 4 twice, expected each value at most once");
  EXPECT_EQ(error(minimal() + "\n[allocation]\ncandidate_bits = []\n"),
            where(16, 18) +
                ": allocation.candidate_bits: found array [], expected a non-empty array of distinct integers from 2, "
                "3, 4, 6 or 8");
  EXPECT_EQ(error(minimal() + "\n[allocation]\ncandidate_bits = [2, 3, 3.5]\n"),
            where(16, 25) + ": allocation.candidate_bits: found float 3.5, expected one of 2, 3, 4, 6 or 8");
}

TEST_F(ConfigTest, DuplicateNamesAreRejected) {
  std::string text = minimal();
  text.insert(text.find("\n[[evaluation]]"), "[[calibration]]\nname = \"a\"\npath = \"data/b.txt\"\n\n");
  EXPECT_EQ(error(text), where(11, 8) + ": calibration.1.name: found \"a\" again (first at " + where(8, 8) +
                             "), expected a name unique among the [[calibration]] tables");
}

TEST_F(ConfigTest, SynthesizedIsAReservedCalibrationName) {
  std::string text = minimal();
  text.replace(text.find("name = \"a\""), 10, "name = \"synthesized\"");
  EXPECT_EQ(error(text), where(8, 8) + ": calibration.0.name: found \"synthesized\", expected another name (results.h5 "
                                       "keeps the fit over all distributions in /analysis/synthesized)");
  // Only [[calibration]] names share /analysis with the fit.
  text = minimal();
  text.replace(text.find("name = \"e\""), 10, "name = \"synthesized\"");
  EXPECT_NO_THROW(parse(text));
}

TEST_F(ConfigTest, NamesMustBeIdentifiers) {
  std::string text = minimal();
  text.replace(text.find("name = \"a\""), 10, "name = \"a b\"");
  EXPECT_EQ(error(text), where(8, 8) + ": calibration.0.name: found string \"a b\", expected a name made of letters, "
                                       "digits, '_', '.' and '-'");
}

TEST_F(ConfigTest, StagesAreADistinctSubset) {
  std::string text = minimal();
  text.insert(text.find("\n\n[model]"), "\nstages = [\"quantize\", \"calibrate\", \"quantize\"]");
  EXPECT_EQ(error(text), where(3, 36) + ": experiment.stages: found string \"quantize\" twice, expected each value at "
                                        "most once");
  text = minimal();
  text.insert(text.find("\n\n[model]"), "\nstages = [\"calibrat\"]");
  EXPECT_EQ(error(text), where(3, 11) + ": experiment.stages: found string \"calibrat\", expected one of \"calibrate\", "
                                        "\"allocate\", \"quantize\" or \"evaluate\" (did you mean \"calibrate\"?)");
  text = minimal();
  text.insert(text.find("\n\n[model]"), "\nstages = []");
  EXPECT_THAT(error(text), StartsWith(where(3, 10) + ": experiment.stages: found array [], expected a non-empty array"));
}

TEST_F(ConfigTest, StagesNeedTheirInputs) {
  std::string text = minimal();
  text.erase(text.find("\n[[evaluation]]"));
  EXPECT_EQ(error(text), where(1, 1) + ": evaluation: missing, expected at least one [[evaluation]] table because "
                                       "experiment.stages includes \"evaluate\"");
  text = minimal();
  text.insert(text.find("\n\n[model]"), "\nstages = [\"quantize\", \"evaluate\"]");
  EXPECT_EQ(error(text), where(3, 10) + ": experiment.stages: found \"quantize\" without \"allocate\" while "
                                        "allocation.method = \"moqa\", expected \"allocate\" as well, or "
                                        "runtime.resume = true to allocate from an earlier run's statistics");
  // Evaluation alone (the full-precision model) needs neither calibration nor allocation.
  text = "[experiment]\nname = \"fp\"\nstages = [\"evaluate\"]\n[model]\npath = \"model\"\n"
         "[[evaluation]]\nname = \"e\"\npath = \"data/a.txt\"\n";
  EXPECT_NO_THROW(parse(text));
  // Uniform RTN needs no statistics either.
  text = "[experiment]\nname = \"rtn\"\nstages = [\"allocate\", \"quantize\", \"evaluate\"]\n[model]\npath = "
         "\"model\"\n[allocation]\nmethod = \"uniform\"\n[quantization]\nmethod = \"rtn\"\n"
         "[[evaluation]]\nname = \"e\"\npath = \"data/a.txt\"\n";
  EXPECT_NO_THROW(parse(text));
}

TEST_F(ConfigTest, ZeroShotNeedsATaskAndPerplexityMustNotHaveOne) {
  EXPECT_EQ(error(minimal() + "kind = \"zero_shot\"\n"),
            where(11, 1) + ": evaluation.0.task: missing, expected one of \"arc_challenge\", \"arc_easy\", \"rte\", "
                           "\"piqa\", \"copa\", \"cb\" or \"multiple_choice\" because kind = \"zero_shot\"");
  EXPECT_EQ(error(minimal() + "task = \"copa\"\n"),
            where(14, 8) + ": evaluation.0.task: found \"copa\" with kind = \"perplexity\", expected no task (task is "
                           "for kind = \"zero_shot\")");
  EXPECT_EQ(error(minimal() + "kind = \"zero_shot\"\ntask = \"rte\"\nformat = \"text\"\n"),
            where(16, 10) + ": evaluation.0.format: found \"text\" with kind = \"zero_shot\", expected \"jsonl\" (one "
                            "task example per line)");
}

TEST_F(ConfigTest, PiqaLabelsDefaultToTheReleaseFileBesideTheRecords) {
  touch(dir_ / "data" / "dev.jsonl", "{\"goal\": \"g\", \"sol1\": \"a\", \"sol2\": \"b\"}\n");
  touch(dir_ / "data" / "dev-labels.lst", "0\n");
  const std::string piqa = minimal() + "kind = \"zero_shot\"\ntask = \"piqa\"\n";
  EXPECT_EQ(parse(piqa, {"evaluation.0.path=data/dev.jsonl"}).evaluation[0].labels, dir_ / "data" / "dev-labels.lst");
  // No <stem>-labels.lst beside the records: the labels are expected in the records.
  EXPECT_TRUE(parse(piqa, {"evaluation.0.path=data/c.jsonl"}).evaluation[0].labels.empty());
  EXPECT_EQ(parse(piqa + "labels = \"data/a.txt\"\n", {"evaluation.0.path=data/dev.jsonl"}).evaluation[0].labels,
            dir_ / "data" / "a.txt");
  EXPECT_THAT(error(piqa + "labels = \"data/none.lst\"\n"),
              AllOf(StartsWith(where(16, 10) + ": evaluation.0.labels:"), HasSubstr("which does not exist")));
  EXPECT_EQ(error(minimal() + "kind = \"zero_shot\"\ntask = \"rte\"\nlabels = \"data/a.txt\"\n"),
            where(16, 10) + ": evaluation.0.labels: found a labels file with task = \"rte\", expected labels only with "
                            "task = \"piqa\" (PIQA's release keeps its labels in a separate file; the other tasks "
                            "carry them in their records)");
  EXPECT_THAT(error(minimal() + "labels = \"data/a.txt\"\n"), HasSubstr("with kind = \"perplexity\""));
}

TEST_F(ConfigTest, OutputDirMayNotBeAFile) {
  std::string text = minimal();
  text.insert(text.find("\n\n[model]"), "\noutput_dir = \"data/a.txt\"");
  EXPECT_THAT(error(text), AllOf(StartsWith(where(3, 14) + ": experiment.output_dir: found \"data/a.txt\""),
                                 HasSubstr("which is an existing file, expected a directory path")));
}

TEST_F(ConfigTest, AllErrorsAreReportedTogetherInFileOrder) {
  const std::string text = "[experiment]\n"
                           "name = \"t\"\n"
                           "seed = -1\n"
                           "[model]\n"
                           "path = \"nowhere\"\n"
                           "[[calibration]]\n"
                           "name = \"a\"\n"
                           "path = \"data/a.txt\"\n"
                           "samples = \"many\"\n"
                           "[[evaluation]]\n"
                           "name = \"e\"\n"
                           "path = \"data/b.txt\"\n"
                           "[quantization]\n"
                           "bits = 4\n";
  const auto messages = errors(text);
  ASSERT_EQ(messages.size(), 4u) << ::testing::PrintToString(messages);
  EXPECT_THAT(messages[0], StartsWith(where(3, 8) + ": experiment.seed: found integer -1"));
  EXPECT_THAT(messages[1], StartsWith(where(5, 8) + ": model.path: found \"nowhere\""));
  EXPECT_THAT(messages[2], StartsWith(where(9, 11) + ": calibration.0.samples: found string \"many\""));
  EXPECT_THAT(messages[3], StartsWith(where(14, 1) + ": quantization.bits: found unknown key \"bits\""));
}

TEST_F(ConfigTest, PathChecksCanBeSkipped) {
  std::string text = minimal();
  text.replace(text.find("data/a.txt"), 10, "data/not-yet.txt");
  ParseOptions o = options();
  o.check_paths = false;
  EXPECT_EQ(parse_experiment(text, file(), o).calibration[0].path, dir_ / "data" / "not-yet.txt");
}

TEST_F(ConfigTest, UnreadableExperimentFile) {
  try {
    load_experiment(dir_ / "absent.toml", options());
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), (dir_ / "absent.toml").string() + ": cannot read the experiment: no such file");
  }
}

TEST_F(ConfigTest, CorruptedInputIsAConfigErrorNeverACrash) {
  // Deterministic byte mutations of a full config: every outcome is a value or a ConfigError.
  const std::string base = minimal() + "\n[allocation]\ncandidate_bits = [2, 4]\ntarget_bits = 3\n"
                                       "\n[sweep]\n\"runtime.threads\" = [1, 2]\n";
  uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
  };
  const char alphabet[] = "[]{}=\"'.,#\n\\$ 0123456789aez-_\x80\xff\x00";
  for (int trial = 0; trial < 300; ++trial) {
    std::string text = base;
    const int edits = 1 + static_cast<int>(next() % 4);
    for (int k = 0; k < edits; ++k) {
      const size_t at = next() % text.size();
      const char c = alphabet[next() % (sizeof alphabet - 1)];
      switch (next() % 3) {
        case 0: text[at] = c; break;
        case 1: text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), c); break;
        default: text.erase(at, 1 + next() % 8); break;
      }
    }
    try {
      (void)parse(text);
    } catch (const ConfigError& e) {
      EXPECT_FALSE(e.messages().empty());
      for (const auto& message : e.messages()) EXPECT_FALSE(message.empty());
    } catch (const std::exception& e) {
      ADD_FAILURE() << "trial " << trial << ": " << e.what() << "\n" << text;
    }
  }
}

TEST(ConfigDocs, EveryKeyIsDocumentedInItsSection) {
  std::ifstream in(moqa::test::source_dir() / "docs" / "CONFIG.md");
  ASSERT_TRUE(in) << "docs/CONFIG.md is missing";
  const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const auto& info : schema_keys()) {
    const std::string heading =
        info.array_section ? cat("## `[[", info.section, "]]`") : cat("## `[", info.section, "]`");
    const size_t start = doc.find(heading);
    ASSERT_NE(start, std::string::npos) << "no section " << heading;
    const size_t end = doc.find("\n## ", start + 1);
    const size_t row = doc.find(cat("| `", info.key, "` |"), start);
    EXPECT_TRUE(row != std::string::npos && row < end) << info.section << "." << info.key << " is not documented";
  }
}

TEST(ClosestMatch, SuggestsOnlyLikelyTypos) {
  const std::vector<std::string> keys{"samples", "seq_len", "max_tokens"};
  EXPECT_EQ(closest_match("sample", keys), "samples");
  EXPECT_EQ(closest_match("seqlen", keys), "seq_len");
  EXPECT_EQ(closest_match("max_token", keys), "max_tokens");
  EXPECT_EQ(closest_match("device", keys), "");
  EXPECT_EQ(closest_match("x", keys), "");
}

TEST(Quickstart, ValidatesAgainstTheSharedAssets) {
  const auto quickstart = moqa::test::source_dir() / "experiments" / "quickstart.toml";
  MOQA_REQUIRE_ASSET(moqa::test::assets_dir() / "trained" / "mixtral-tiny" / "config.json");
  MOQA_REQUIRE_ASSET(moqa::test::assets_dir() / "text" / "tinyshakespeare" / "input.txt");
  const Experiment e = load_experiment(quickstart);
  EXPECT_EQ(e.experiment.name, "quickstart");
  EXPECT_EQ(e.calibration.size(), 2u);
  EXPECT_EQ(e.allocation.method, AllocationMethod::moqa);
  EXPECT_EQ(e.quantization.method, QuantMethod::gptq);
  ASSERT_EQ(e.evaluation.size(), 2u);
  EXPECT_EQ(e.evaluation[0].distribution, Distribution::known);
  EXPECT_EQ(e.evaluation[1].distribution, Distribution::novel);
}

}  // namespace
}  // namespace moqa::config::test
