// The evaluate stage under mpiexec -n 1..3 on the tiny golden Mixtral (byte tokens): the full-precision
// model and a quantized one (the test's stand-in for the quantize stage: routed experts RTN-rounded to
// 3 bits), each rank scoring its share through the all-to-all executor. The reduced results must equal a
// single-process evaluation of the whole data; /metrics in results.h5 and results.json / results.md must
// carry the same numbers; `baseline = false` skips the full-precision model only when a quantized one
// exists.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "config/load.h"
#include "data/corpus.h"
#include "data/tasks.h"
#include "dist/mpi_session.h"
#include "eval/perplexity.h"
#include "eval/zero_shot.h"
#include "io/hdf5_file.h"
#include "model/model.h"
#include "model/weight_source.h"
#include "pipeline/channel_adjustment.h"
#include "pipeline/driver.h"
#include "pipeline/evaluate/stage_evaluate.h"
#include "pipeline/results_file.h"
#include "pipeline/results_summary.h"
#include "quant/rtn.h"
#include "support/mpi_test_support.h"
#include "support/test_support.h"

namespace moqa::pipeline {
namespace {

namespace fs = std::filesystem;

using test::world_rank;

fs::path model_dir() { return test::data_dir() / "arch" / "mixtral"; }

// Every routed expert's matrices rounded to `bits` per output channel, the rest passed through.
class RtnExpertWeights final : public model::WeightSource {
 public:
  explicit RtnExpertWeights(const fs::path& dir, int bits = 3) : base_(dir), bits_(bits) {}
  bool contains(const std::string& name) const override { return base_.contains(name); }
  Tensor load(const std::string& name, const Shape& shape) const override {
    Tensor t = base_.load(name, shape);
    if (name.find(".experts.") == std::string::npos) return t;
    return quant::dequantize(quant::quantize_rtn(t, {.bits = bits_, .group_size = 0}, name), name);
  }
  std::string describe() const override { return cat("RTN ", bits_, "-bit experts over ", base_.describe()); }

 private:
  model::CheckpointWeights base_;
  int bits_;
};

// A shared directory (rank 0 creates it and writes the data) for every rank.
fs::path shared_dir() {
  static const fs::path dir = [] {
    std::string path = world_rank() == 0 ? test::temp_dir("evaluate-mpi").string() : std::string();
    path = dist::broadcast_string(MPI_COMM_WORLD, path);
    if (world_rank() == 0) {
      std::ofstream text(fs::path(path) / "text.txt", std::ios::binary);
      for (int i = 0; i < 60; ++i)
        text << "Line " << i << ": the quick brown fox jumps over " << (i * 7) % 13 << " lazy dogs.\n";
    }
    MPI_Barrier(MPI_COMM_WORLD);
    return fs::path(path);
  }();
  return dir;
}

config::Experiment make_experiment(const std::string& name, const std::string& runtime_extra = "") {
  const fs::path dir = shared_dir();
  std::ostringstream toml;
  toml << "[experiment]\nname = \"" << name << "\"\nstages = [\"evaluate\"]\noutput_dir = \"" << (dir / name).string()
       << "\"\n\n[model]\npath = \"" << model_dir().string() << "\"\ntokenizer = \"bytes\"\n\n"
       << "[[evaluation]]\nname = \"text\"\npath = \"text.txt\"\nseq_len = 64\ndistribution = \"known\"\n\n"
       << "[[evaluation]]\nname = \"sliding\"\npath = \"text.txt\"\nseq_len = 48\nstride = 16\nmax_tokens = 1500\n"
       << "keep_partial_last = true\nbaseline = false\n\n"
       << "[[evaluation]]\nname = \"mc\"\nkind = \"zero_shot\"\ntask = \"multiple_choice\"\npath = \""
       << (test::data_dir() / "tasks" / "multiple_choice.jsonl").string() << "\"\n\n"
       << "[[evaluation]]\nname = \"arc\"\nkind = \"zero_shot\"\ntask = \"arc_easy\"\npath = \""
       << (test::data_dir() / "tasks" / "arc_easy.jsonl").string() << "\"\nlimit = 4\nseq_len = 40\n\n"
       << "[[evaluation]]\nname = \"cb\"\nkind = \"zero_shot\"\ntask = \"cb\"\nbaseline = false\npath = \""
       << (test::data_dir() / "tasks" / "cb.jsonl").string() << "\"\n\n"
       << "[runtime]\ndevice = \"cpu\"\nthreads = 1\nbatch_windows = 2\nprogress_interval_s = 0\n" << runtime_extra;
  return config::parse_experiment(toml.str(), dir / (name + ".toml"));
}

// The single-process reference of one set on the whole data.
struct Reference {
  std::optional<eval::PerplexityResult> perplexity;
  std::optional<eval::ZeroShotResult> zero_shot;
};

Reference reference(const config::EvaluationSet& set, std::shared_ptr<const model::WeightSource> weights) {
  backend::CpuBackend backend{backend::CpuOptions{.threads = 1}};
  const ModelConfig config = load_hf_config(model_dir() / "config.json");
  model::Model model(config, std::move(weights), backend);
  const Tokenizer bytes = Tokenizer::bytes();
  Reference out;
  if (set.kind == config::EvalKind::perplexity) {
    const auto tokens = data::load_token_stream(bytes, {.path = set.path}, {.max_tokens = set.max_tokens});
    out.perplexity = eval::evaluate_perplexity(model, tokens,
                                               {.seq_len = set.seq_len, .stride = set.stride, .batch_windows = 3,
                                                .keep_partial_last = set.keep_partial_last});
  } else {
    out.zero_shot = eval::evaluate_zero_shot(model, bytes, data::load_task(set.path, *set.task, set.limit, set.labels),
                                             {.max_length = set.seq_len,
                                              .batch_sequences = 3,
                                              // byte tokens: the stage conditions empty contexts on the model's BOS
                                              .prefix_token = static_cast<int32_t>(*config.bos_token_id)});
  }
  return out;
}

struct StageRun {
  std::vector<DatasetEvaluation> evaluations;
  std::optional<nlohmann::ordered_json> summary;  // rank 0
  std::string markdown;                           // rank 0
  fs::path results;                               // rank 0: the committed results.h5
  std::string log;                                // rank 0
};

// With channel adjustment the quantize stage also leaves weights adjusted to each novel set, and the
// allocate stage the plan with that set's re-allocation.
struct Adjustment {
  std::map<std::string, std::shared_ptr<const model::WeightSource>> novel_weights;
  std::optional<ChannelAdjustmentPlan> plan;
};

StageRun run_stage(const config::Experiment& e, std::shared_ptr<const model::WeightSource> quantized,
                   Adjustment adjustment = {}) {
  int argc = 0;
  char** argv = nullptr;
  const dist::MpiSession session(argc, argv);
  std::ostringstream log;
  RunContext context{e, session, log};
  ResultsFile file = open_results_file(e, session);
  context.results = file.writer ? &*file.writer : nullptr;
  context.quantized_weights = std::move(quantized);
  context.novel_weights = std::move(adjustment.novel_weights);
  context.channel_adjustment = std::move(adjustment.plan);
  run_evaluate_stage(context);
  context.results = nullptr;
  StageRun out;
  out.evaluations = context.evaluations;
  if (session.is_root()) {
    out.results = commit_results_file(file);
    out.summary = summarize_run(context, file, utc_now(), 1.0);
    out.markdown = render_markdown(*out.summary);
    out.log = log.str();
    EXPECT_NE(log.str().find("evaluate fp/text (known): ppl "), std::string::npos) << log.str();
  }
  return out;
}

class EvaluateStage : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    experiment_ = std::make_unique<config::Experiment>(make_experiment("both"));
    run_ = std::make_unique<StageRun>(run_stage(*experiment_, std::make_shared<RtnExpertWeights>(model_dir())));
  }
  static void TearDownTestSuite() {
    run_.reset();
    experiment_.reset();
  }
  static inline std::unique_ptr<config::Experiment> experiment_;
  static inline std::unique_ptr<StageRun> run_;
};

TEST_F(EvaluateStage, EvaluatesTheBaselineWhereAskedAndTheQuantizedModelEverywhere) {
  const auto& ev = run_->evaluations;
  // fp: text, mc, arc (sliding has baseline = false); quantized: all four, in TOML order.
  ASSERT_EQ(ev.size(), 8u);
  const std::vector<std::pair<EvaluatedModel, size_t>> expected{
      {EvaluatedModel::full_precision, 0}, {EvaluatedModel::full_precision, 2}, {EvaluatedModel::full_precision, 3},
      {EvaluatedModel::quantized, 0},      {EvaluatedModel::quantized, 1},      {EvaluatedModel::quantized, 2},
      {EvaluatedModel::quantized, 3},      {EvaluatedModel::quantized, 4}};
  for (size_t i = 0; i < ev.size(); ++i) {
    EXPECT_EQ(ev[i].model, expected[i].first) << i;
    EXPECT_EQ(ev[i].set, expected[i].second) << i;
    EXPECT_EQ(ev[i].perplexity.has_value(), experiment_->evaluation[ev[i].set].kind == config::EvalKind::perplexity);
    EXPECT_EQ(ev[i].zero_shot.has_value(), !ev[i].perplexity.has_value());
  }
}

TEST_F(EvaluateStage, ReducedResultsEqualASingleProcessEvaluation) {
  const auto checkpoint = std::make_shared<model::CheckpointWeights>(model_dir());
  const auto quantized = std::make_shared<RtnExpertWeights>(model_dir());
  for (const DatasetEvaluation& d : run_->evaluations) {
    const config::EvaluationSet& set = experiment_->evaluation[d.set];
    SCOPED_TRACE(std::string(model_key(d.model)) + "/" + set.name);
    const Reference ref =
        reference(set, d.model == EvaluatedModel::quantized ? std::shared_ptr<const model::WeightSource>(quantized)
                                                            : std::shared_ptr<const model::WeightSource>(checkpoint));
    if (d.perplexity) {
      EXPECT_EQ(d.perplexity->windows, ref.perplexity->windows);
      EXPECT_EQ(d.perplexity->stream_tokens, ref.perplexity->stream_tokens);
      EXPECT_EQ(d.perplexity->sum.targets, ref.perplexity->sum.targets);
      EXPECT_EQ(d.perplexity->sum.input_tokens, ref.perplexity->sum.input_tokens);
      EXPECT_NEAR(d.perplexity->mean_nll(), ref.perplexity->mean_nll(), 1e-6 * ref.perplexity->mean_nll());
    } else {
      const eval::ZeroShotCounts& a = d.zero_shot->counts;
      const eval::ZeroShotCounts& b = ref.zero_shot->counts;
      EXPECT_EQ(a.examples, b.examples);
      EXPECT_EQ(a.correct, b.correct);
      EXPECT_EQ(a.correct_norm, b.correct_norm);
      EXPECT_EQ(a.requests, b.requests);
      EXPECT_EQ(a.truncated, b.truncated);
      EXPECT_EQ(a.input_tokens, b.input_tokens);
      EXPECT_EQ(a.confusion, b.confusion);  // cb: the F1's counts, summed over ranks
      EXPECT_EQ(a.confusion.size(), set.task == data::TaskFormat::cb ? 9u : 0u);
      EXPECT_EQ(d.zero_shot->task, ref.zero_shot->task);
    }
  }
  // The sliding-window set scores every token but the first; arc with seq_len 40 truncates some requests.
  EXPECT_EQ(run_->evaluations[4].perplexity->sum.targets, 1499);
  EXPECT_GT(run_->evaluations[2].zero_shot->counts.truncated, 0);
  // 3-bit experts change the model.
  EXPECT_NE(run_->evaluations[0].perplexity->mean_nll(), run_->evaluations[3].perplexity->mean_nll());
}

TEST_F(EvaluateStage, MetricsInResultsFileMatchTheRecords) {
  if (world_rank() != 0) return;
  const io::H5Reader r = io::H5Reader::open(run_->results);
  EXPECT_EQ(r.members("/metrics"), (std::vector<std::string>{"fp", "quantized"}));
  EXPECT_EQ(r.members("/metrics/fp"), (std::vector<std::string>{"arc", "mc", "text"}));
  EXPECT_EQ(r.attribute_string("/metrics/fp", "method"), "FP");
  EXPECT_EQ(r.attribute_double("/metrics/fp", "bits_experts"), 16.0);
  EXPECT_EQ(r.attribute_string("/metrics/quantized", "method"), "moqa/gptq");
  EXPECT_NE(r.attribute_string("/metrics/quantized", "weights").find("RTN 3-bit experts"), std::string::npos);
  for (const DatasetEvaluation& d : run_->evaluations) {
    const config::EvaluationSet& set = experiment_->evaluation[d.set];
    const std::string g = "/metrics/" + std::string(model_key(d.model)) + "/" + set.name;
    SCOPED_TRACE(g);
    EXPECT_EQ(r.attribute_string(g, "distribution"), set.name == "text" ? "known" : "novel");
    EXPECT_EQ(r.attribute_string(g, "kind"), config::name_of(set.kind));
    EXPECT_EQ(r.attribute_int64(g, "seq_len"), set.seq_len);
    if (d.perplexity) {
      EXPECT_EQ(r.read<double>(g + "/ppl").values.at(0), d.perplexity->perplexity());
      EXPECT_EQ(r.read<double>(g + "/nll").values.at(0), d.perplexity->mean_nll());
      EXPECT_EQ(r.read<int64_t>(g + "/tokens").values.at(0), d.perplexity->sum.targets);
      EXPECT_EQ(r.read<int64_t>(g + "/windows").values.at(0), d.perplexity->windows);
      EXPECT_EQ(r.attribute_int64(g, "stride"), set.stride);
    } else {
      EXPECT_EQ(r.read<double>(g + "/acc").values.at(0), d.zero_shot->acc());
      EXPECT_EQ(r.read<double>(g + "/acc_norm").values.at(0), d.zero_shot->acc_norm());
      EXPECT_EQ(r.read<int64_t>(g + "/count").values.at(0), d.zero_shot->counts.examples);
      EXPECT_EQ(r.attribute_string(g, "task"), d.zero_shot->task);
      if (set.task == data::TaskFormat::cb) {
        EXPECT_EQ(r.read<double>(g + "/f1").values.at(0), d.zero_shot->f1());
        EXPECT_EQ(r.read<int64_t>(g + "/confusion").values, d.zero_shot->counts.confusion);
        EXPECT_EQ(r.read<int64_t>(g + "/confusion").shape, (Shape{3, 3}));
      } else {
        EXPECT_FALSE(r.exists(g + "/f1"));
      }
    }
  }
}

TEST_F(EvaluateStage, SummaryCarriesTheSameNumbers) {
  if (world_rank() != 0) return;
  const nlohmann::ordered_json& s = *run_->summary;
  EXPECT_EQ(s["format"], "moqa-results");
  EXPECT_EQ(s["experiment"]["name"], "both");
  EXPECT_EQ(s["model"]["model_type"], "mixtral");
  ASSERT_EQ(s["models"].size(), 2u);
  EXPECT_EQ(s["models"][0]["model"], "fp");
  EXPECT_EQ(s["models"][1]["model"], "quantized");
  EXPECT_TRUE(s["models"][1]["bits_experts"].is_null());  // no allocation in this run
  for (const DatasetEvaluation& d : run_->evaluations) {
    const config::EvaluationSet& set = experiment_->evaluation[d.set];
    const auto& m = s["models"][d.model == EvaluatedModel::full_precision ? 0 : 1];
    if (d.perplexity) {
      EXPECT_EQ(m["perplexity"][set.name]["ppl"].get<double>(), d.perplexity->perplexity());
      EXPECT_EQ(m["perplexity"][set.name]["tokens"].get<int64_t>(), d.perplexity->sum.targets);
    } else {
      EXPECT_EQ(m["zero_shot"][set.name]["acc"].get<double>(), d.zero_shot->acc());
      EXPECT_EQ(m["zero_shot"][set.name]["count"].get<int64_t>(), d.zero_shot->counts.examples);
      EXPECT_EQ(m["zero_shot"][set.name].contains("f1"), set.task == data::TaskFormat::cb);
      if (set.task == data::TaskFormat::cb) {
        EXPECT_EQ(m["zero_shot"][set.name]["f1"].get<double>(), d.zero_shot->f1());
        EXPECT_EQ(m["zero_shot"][set.name]["confusion"].size(), 3u);
      }
    }
  }
  // Averages: the plain mean per group.
  const auto& q = s["models"][1];
  const double text = q["perplexity"]["text"]["ppl"], sliding = q["perplexity"]["sliding"]["ppl"];
  EXPECT_DOUBLE_EQ(q["averages"]["ppl"]["known"].get<double>(), text);
  EXPECT_DOUBLE_EQ(q["averages"]["ppl"]["novel"].get<double>(), sliding);
  EXPECT_DOUBLE_EQ(q["averages"]["ppl"]["all"].get<double>(), (text + sliding) / 2);
  const double mc = q["zero_shot"]["mc"]["acc"], arc = q["zero_shot"]["arc"]["acc"], cb = q["zero_shot"]["cb"]["acc"];
  EXPECT_DOUBLE_EQ(q["averages"]["acc"]["novel"].get<double>(), (mc + arc + cb) / 3);
  EXPECT_TRUE(q["averages"]["acc"]["known"].is_null());
  EXPECT_TRUE(s["models"][0]["averages"]["ppl"]["novel"].is_null());  // fp has no novel perplexity set

  // The markdown tables show the same numbers, rounded.
  const std::string& md = run_->markdown;
  char cell[64];
  std::snprintf(cell, sizeof cell, "| %.2f |", text);
  EXPECT_NE(md.find(cell), std::string::npos) << md;
  EXPECT_NE(md.find("| method | bits (experts) | bits (all linear) | stored bits (experts) | stored bits (all linear) "
                    "| text (known) | sliding (novel) | avg |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| FP | 16.00 | 16.00 | 16.00 | 16.00 | "), std::string::npos) << md;
  EXPECT_NE(md.find("| moqa/gptq | - | - | - | - | "), std::string::npos) << md;
  EXPECT_NE(md.find("## Zero-shot accuracy, acc (%"), std::string::npos) << md;
  const size_t f1_table = md.find("## Zero-shot macro F1 (%");
  ASSERT_NE(f1_table, std::string::npos) << md;
  std::snprintf(cell, sizeof cell, " | %.2f |\n", 100.0 * q["zero_shot"]["cb"]["f1"].get<double>());
  EXPECT_NE(md.find(cell, f1_table), std::string::npos) << md;
}

// Streaming weights, every set runs layer-major over all of its windows (or zero-shot batches); with a
// hidden-state budget of 0 they all pass through the scratch file in output_dir. The numbers are those of
// the resident, batch-by-batch run, bit for bit, and rank 0 says that it spills.
TEST_F(EvaluateStage, StreamedLayerMajorWithSpilledHiddenStatesEqualsTheResidentRun) {
  const config::Experiment e = make_experiment("streamed", "stream_weights = true\nhidden_state_memory_mib = 0\n");
  const StageRun streamed = run_stage(e, std::make_shared<RtnExpertWeights>(model_dir()));
  ASSERT_EQ(streamed.evaluations.size(), run_->evaluations.size());
  for (size_t i = 0; i < streamed.evaluations.size(); ++i) {
    const DatasetEvaluation& a = streamed.evaluations[i];
    const DatasetEvaluation& b = run_->evaluations[i];
    SCOPED_TRACE(experiment_->evaluation[b.set].name);
    ASSERT_EQ(a.set, b.set);
    if (b.perplexity) {
      EXPECT_EQ(a.perplexity->sum.nll, b.perplexity->sum.nll);
      EXPECT_EQ(a.perplexity->sum.targets, b.perplexity->sum.targets);
    } else {
      EXPECT_EQ(a.zero_shot->counts.correct, b.zero_shot->counts.correct);
      EXPECT_EQ(a.zero_shot->counts.correct_norm, b.zero_shot->counts.correct_norm);
      EXPECT_EQ(a.zero_shot->counts.confusion, b.zero_shot->counts.confusion);
    }
  }
  if (world_rank() == 0) {
    EXPECT_NE(streamed.log.find("evaluate fp/text: hidden states of rank 0's share: "), std::string::npos)
        << streamed.log;
    EXPECT_NE(streamed.log.find("in a scratch file in " + e.experiment.output_dir.string()), std::string::npos);
    EXPECT_EQ(run_->log.find("in a scratch file"), std::string::npos) << run_->log;
  }
}

// Without a quantized model the baseline is the only model: every set is evaluated, baseline or not.
TEST(EvaluateStageWithoutQuantizedModel, EvaluatesTheFullPrecisionModelOnEverySet) {
  const config::Experiment e = make_experiment("fp-only");
  const StageRun run = run_stage(e, nullptr);
  ASSERT_EQ(run.evaluations.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(run.evaluations[i].model, EvaluatedModel::full_precision);
    EXPECT_EQ(run.evaluations[i].set, i);
  }
  if (world_rank() == 0) {
    EXPECT_EQ(io::H5Reader::open(run.results).members("/metrics"), std::vector<std::string>{"fp"});
  }
}

// Channel adjustment: the novel perplexity set "sliding" is scored on its own adjusted weights (here a
// 4-bit stand-in), every other set on the common quantized weights; the record says so.
TEST(EvaluateStageWithChannelAdjustment, NovelSetIsScoredOnItsAdjustedWeights) {
  const config::Experiment e = make_experiment("adjusted");
  Adjustment adjustment;
  const auto adjusted = std::make_shared<RtnExpertWeights>(model_dir(), 4);
  adjustment.novel_weights["sliding"] = adjusted;
  adjustment.plan.emplace();
  // The records carry what the adjusted model stores, not the re-allocation's averages.
  adjustment.plan->novel.push_back({.name = "sliding",
                                    .expert_mean_bits = 3.0,
                                    .all_linear_mean_bits = 4.0,
                                    .stored_expert_mean_bits = 3.5,
                                    .stored_all_linear_mean_bits = 4.25});
  const StageRun run = run_stage(e, std::make_shared<RtnExpertWeights>(model_dir(), 3), adjustment);
  ASSERT_EQ(run.evaluations.size(), 8u);
  for (const DatasetEvaluation& d : run.evaluations) {
    const config::EvaluationSet& set = e.evaluation[d.set];
    const bool is_adjusted = d.model == EvaluatedModel::quantized && set.name == "sliding";
    EXPECT_EQ(d.channel_adjusted, is_adjusted) << set.name;
    if (!is_adjusted) continue;
    EXPECT_EQ(d.adjusted_bits_experts, 3.5);
    EXPECT_EQ(d.adjusted_bits_all_linear, 4.25);
    EXPECT_NEAR(d.perplexity->mean_nll(), reference(set, adjusted).perplexity->mean_nll(),
                1e-6 * d.perplexity->mean_nll());
  }
  // The common quantized model still serves the other sets.
  const DatasetEvaluation& text = run.evaluations[3];
  ASSERT_EQ(text.model, EvaluatedModel::quantized);
  EXPECT_NEAR(text.perplexity->mean_nll(),
              reference(e.evaluation[0], std::make_shared<RtnExpertWeights>(model_dir(), 3)).perplexity->mean_nll(),
              1e-6 * text.perplexity->mean_nll());
  if (world_rank() != 0) return;
  const io::H5Reader r = io::H5Reader::open(run.results);
  EXPECT_EQ(r.attribute_int64("/metrics/quantized/sliding", "channel_adjusted"), 1);
  EXPECT_EQ(r.attribute_double("/metrics/quantized/sliding", "adjusted_bits_experts"), 3.5);
  EXPECT_FALSE(r.has_attribute("/metrics/quantized/text", "channel_adjusted"));
  const auto& entry = (*run.summary)["models"][1]["perplexity"]["sliding"];
  EXPECT_EQ(entry["channel_adjusted"], true);
  EXPECT_EQ(entry["adjusted_bits_all_linear"].get<double>(), 4.25);
  EXPECT_NE(run.markdown.find("(ca 3.50 b)"), std::string::npos) << run.markdown;
}

}  // namespace
}  // namespace moqa::pipeline
