// moqa-pipeline end to end under `mpiexec -n 2`, as a user (or a Slurm array task) runs it:
//  - a full-precision evaluation of the tiny golden Mixtral (committed test data, byte tokens): results.h5,
//    results.json and results.md all written and in agreement, stage times recorded;
//  - calibrate -> allocate -> quantize -> evaluate on the trained mixtral-tiny (../shared/assets), a
//    two-run sweep (`sweep --index 0` and `--index 1`, each in its own folder) of 3-bit `uniform` against
//    3-bit `budgeted` allocation, both with RTN: budgeted must give a lower perplexity on the known
//    distributions; then scripts/collect.py and scripts/plot_sweep.py on the sweep's folder.
//
// Why these settings make the improvement robust: the quantizer is RTN (per output channel, group 128 =
// the width of the expert inputs) for both, so only the allocation differs; candidate widths {2, 3, 4}
// let `uniform` be exactly 3 bits and let `budgeted` trade 2-bit experts against 4-bit ones at exactly
// the same 3.000-bit mean. `budgeted` solves the knapsack exactly on the measured RTN output error of
// every expert at every width, weighted by its significance on the calibration distributions (wiki and
// shakespeare training text), so it spends the bits where the error on those distributions is largest.
// Measured (seed 0, 2 ranks, 16 x 256 calibration tokens per distribution, 16384 evaluation tokens per
// set): known-set mean PPL 330.0 (budgeted) vs 345.5 (uniform), -4.5% (wiki 410.1 vs 423.9, shakespeare
// 249.8 vs 267.1; FP 349.5 and 221.6); seeds 1-3 give -3.7% to -4.5%, every known set improving in each.
// The novel `code` set (not calibrated on) is reported but not asserted: there budgeted is about 1% worse
// (15.9 vs 15.7), the known/novel gap MoQa's channel adjustment is about. The test asserts at least 1% on
// the known mean and an improvement on every known set.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/hdf5_file.h"
#include "support/test_support.h"

namespace moqa::pipeline {
namespace {

namespace fs = std::filesystem;
using test::mpiexec;
using test::shell_quoted;
using test::toml_path;
using json = nlohmann::json;
using ::testing::HasSubstr;


std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

json read_json(const fs::path& path) { return json::parse(read_file(path)); }

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

// " 412.74 |": a table cell as results.md / collect.py print it (built in steps: g++ 12 warns, a -Wrestrict
// false positive, on " " + s + " |").
std::string cell(double value, int decimals, const char* tail) {
  std::string out(1, ' ');
  out += fixed(value, decimals);
  out += tail;
  return out;
}

// Every number of results.json's models is the one in results.h5 /metrics, and results.md shows it.
void expect_files_agree(const fs::path& dir) {
  SCOPED_TRACE(dir.string());
  ASSERT_TRUE(fs::exists(dir / "results.h5"));
  ASSERT_TRUE(fs::exists(dir / "results.json"));
  ASSERT_TRUE(fs::exists(dir / "results.md"));
  const json s = read_json(dir / "results.json");
  const std::string md = read_file(dir / "results.md");
  const io::H5Reader r = io::H5Reader::open(dir / "results.h5");
  EXPECT_EQ(s["format"], "moqa-results");
  EXPECT_EQ(s["provenance"]["git_commit"], r.attribute_string("/provenance", "git_commit"));
  EXPECT_EQ(s["provenance"]["utc_start"], r.attribute_string("/provenance", "utc_start"));
  EXPECT_EQ(s["provenance"]["config_toml"], r.read_string("/provenance/config_toml"));
  // Stage times: the same stages, the same seconds.
  const auto names = r.read_strings("/provenance/stage_names");
  const auto seconds = r.read<double>("/provenance/stage_wall_time_s").values;
  ASSERT_EQ(s["stages"].size(), names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(s["stages"][i]["stage"], names[i]);
    EXPECT_EQ(s["stages"][i]["wall_time_s"].get<double>(), seconds[i]);
    EXPECT_THAT(md, HasSubstr("| " + names[i] + " | "));
  }
  EXPECT_EQ(r.members("/metrics").size(), s["models"].size());
  for (const json& m : s["models"]) {
    const std::string g = "/metrics/" + m["model"].get<std::string>();
    EXPECT_EQ(r.attribute_string(g, "method"), m["method"]);
    std::string row = "| " + m["method"].get<std::string>() + " | ";
    if (m["bits_experts"].is_number()) {
      EXPECT_EQ(r.attribute_double(g, "bits_experts"), m["bits_experts"].get<double>());
      row += fixed(m["bits_experts"].get<double>(), 2) + " | " + fixed(m["bits_all_linear"].get<double>(), 2) + " | ";
    }
    for (const auto& [name, v] : m["perplexity"].items()) {
      EXPECT_EQ(r.read<double>(g + "/" + name + "/ppl").values.at(0), v["ppl"].get<double>()) << name;
      EXPECT_EQ(r.read<int64_t>(g + "/" + name + "/tokens").values.at(0), v["tokens"].get<int64_t>()) << name;
      EXPECT_EQ(r.attribute_string(g + "/" + name, "distribution"), v["distribution"]) << name;
      EXPECT_THAT(md, HasSubstr(cell(v["ppl"].get<double>(), 2, " |"))) << name;
    }
    for (const auto& [name, v] : m["zero_shot"].items()) {
      EXPECT_EQ(r.read<double>(g + "/" + name + "/acc").values.at(0), v["acc"].get<double>()) << name;
      EXPECT_EQ(r.read<int64_t>(g + "/" + name + "/count").values.at(0), v["count"].get<int64_t>()) << name;
      EXPECT_THAT(md, HasSubstr(cell(100 * v["acc"].get<double>(), 2, " ± "))) << name;
    }
    EXPECT_THAT(md, HasSubstr(row));
  }
}

// ---- Full precision, committed test data only --------------------------------------------------------

// An evaluate-only experiment in `dir` on the tiny golden Mixtral: perplexity of dir/text.txt (`sentences`
// lines, windows of 64 byte tokens) and zero-shot arc_easy; results in dir/out.
void write_fp_experiment(const fs::path& dir, int sentences) {
  {
    std::ofstream text(dir / "text.txt", std::ios::binary);
    for (int i = 0; i < sentences; ++i) text << "Sentence " << i << " tells of rivers, hills and " << i % 7 << " towns.\n";
  }
  std::ofstream(dir / "experiment.toml")
      << "[experiment]\nname = \"fp-e2e\"\nstages = [\"evaluate\"]\noutput_dir = " << toml_path(dir / "out")
      << "\n\n[model]\npath = " << toml_path(test::data_dir() / "arch" / "mixtral") << "\ntokenizer = \"bytes\"\n\n"
      << "[[evaluation]]\nname = \"text\"\npath = \"text.txt\"\nseq_len = 64\ndistribution = \"known\"\n\n"
      << "[[evaluation]]\nname = \"arc\"\nkind = \"zero_shot\"\ntask = \"arc_easy\"\npath = "
      << toml_path(test::data_dir() / "tasks" / "arc_easy.jsonl") << "\n\n"
      << "[runtime]\ndevice = \"cpu\"\nthreads = 1\nbatch_windows = 2\n";
}

test::CommandResult run_pipeline(const fs::path& experiment) {
  return test::run_command("timeout 120 " + mpiexec(2) + " " + shell_quoted(test::pipeline_exe()) + " " +
                           shell_quoted(experiment));
}

TEST(PipelineEvaluate, FullPrecisionRunWritesAgreeingResultFiles) {
  const fs::path dir = test::temp_dir("pipeline-evaluate-fp");
  write_fp_experiment(dir, 40);
  const auto run = run_pipeline(dir / "experiment.toml");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("evaluate fp/text (known): ppl "));
  EXPECT_THAT(run.output, HasSubstr("evaluate fp/arc (novel): arc_easy: acc "));
  EXPECT_THAT(run.output, HasSubstr("tokens/s"));
  EXPECT_THAT(run.output, HasSubstr("ETA"));
  EXPECT_THAT(run.output, HasSubstr("results: " + (dir / "out" / "results.json").string()));
  expect_files_agree(dir / "out");
  const json s = read_json(dir / "out" / "results.json");
  ASSERT_EQ(s["models"].size(), 1u);
  EXPECT_EQ(s["models"][0]["model"], "fp");
  EXPECT_EQ(s["models"][0]["zero_shot"]["arc"]["count"], 5);
  EXPECT_TRUE(s["allocation"].is_null());
  EXPECT_TRUE(s["sweep"].is_null());
  EXPECT_EQ(s["provenance"]["ranks"], 2);
  ASSERT_EQ(s["stages"].size(), 1u);
  EXPECT_EQ(s["stages"][0]["stage"], "evaluate");
}

// The GPTQ perplexity protocols end to end: WikiText-style rows joined with "\n\n" and C4-style records
// joined with " ", each protocol named next to its perplexity in the log, results.h5, results.json and
// results.md; the C4 set has far fewer than 1,100 documents and 256 windows, which the run says.
TEST(PipelineEvaluate, GptqProtocolsAreRecordedAndTheirShortfallSaid) {
  const fs::path dir = test::temp_dir("pipeline-evaluate-protocols");
  {
    std::ofstream wiki(dir / "wiki.raw", std::ios::binary);
    for (int i = 0; i < 30; ++i) wiki << " \n = Title " << i << " = \n \n Words of article " << i << " , and more .\n";
    std::ofstream c4(dir / "c4.jsonl", std::ios::binary);
    for (int i = 0; i < 12; ++i) c4 << "{\"text\": \"Document " << i << " says a few plain things.\"}\n";
  }
  std::ofstream(dir / "experiment.toml")
      << "[experiment]\nname = \"protocols\"\nstages = [\"evaluate\"]\noutput_dir = " << toml_path(dir / "out")
      << "\n\n[model]\npath = " << toml_path(test::data_dir() / "arch" / "mixtral") << "\ntokenizer = \"bytes\"\n\n"
      << "[[evaluation]]\nname = \"wiki\"\npath = \"wiki.raw\"\nprotocol = \"gptq-wikitext2\"\nseq_len = 64\n\n"
      << "[[evaluation]]\nname = \"c4\"\npath = \"c4.jsonl\"\nprotocol = \"gptq-c4-new\"\nseq_len = 32\n\n"
      << "[runtime]\ndevice = \"cpu\"\nthreads = 1\nbatch_windows = 2\n";
  const auto run = run_pipeline(dir / "experiment.toml");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  // 12 records of 35 or 36 bytes and 11 spaces: 433 tokens, 13 windows of 32.
  const std::string shortfall =
      "12 of the protocol's 1100 documents exist; the text gives 433 tokens, fewer than "
      "256 x 32 = 8192: 13 windows scored instead of 256";
  EXPECT_THAT(run.output, HasSubstr("evaluate: \"c4\" (protocol gptq-c4-new): " + shortfall));
  EXPECT_THAT(run.output, HasSubstr("tokens/s), protocol gptq-wikitext2\n"));
  expect_files_agree(dir / "out");
  const json s = read_json(dir / "out" / "results.json");
  const json& wiki = s["models"][0]["perplexity"]["wiki"];
  const json& c4 = s["models"][0]["perplexity"]["c4"];
  EXPECT_EQ(wiki["protocol"], "gptq-wikitext2");
  EXPECT_EQ(wiki["documents"], 120);  // 4 rows per article
  EXPECT_EQ(wiki["shortfall"], "");
  EXPECT_EQ(c4["protocol"], "gptq-c4-new");
  EXPECT_EQ(c4["documents"], 12);
  EXPECT_EQ(c4["windows_wanted"], 256);
  EXPECT_EQ(c4["windows"], 13);
  EXPECT_EQ(c4["shortfall"], shortfall);
  EXPECT_EQ(s["datasets"][1]["protocol"], "gptq-c4-new");
  const io::H5Reader r = io::H5Reader::open(dir / "out" / "results.h5");
  EXPECT_EQ(r.attribute_string("/metrics/fp/wiki", "protocol"), "gptq-wikitext2");
  EXPECT_EQ(r.attribute_string("/metrics/fp/c4", "protocol"), "gptq-c4-new");
  EXPECT_EQ(r.attribute_int64("/metrics/fp/c4", "windows_wanted"), 256);
  EXPECT_EQ(r.attribute_string("/metrics/fp/c4", "shortfall"), shortfall);
  const std::string md = read_file(dir / "out" / "results.md");
  EXPECT_THAT(md, HasSubstr("`wiki` gptq-wikitext2, seq_len 64; `c4` gptq-c4-new, seq_len 32."));
  EXPECT_THAT(md, HasSubstr("- `c4` (gptq-c4-new): " + shortfall));
  EXPECT_THAT(md, HasSubstr("| c4 | perplexity (gptq-c4-new) |"));
}

// A run that fails at run time (here: a text shorter than one window, found only when the evaluate stage
// reads it) aborts the whole job naming the rank and the reason, and leaves what an earlier run wrote to
// the same folder exactly as it was: no new result file gets a final name.
TEST(PipelineEvaluate, FailedRunAbortsWithRankAndReasonAndLeavesEarlierResultsAlone) {
  const fs::path dir = test::temp_dir("pipeline-evaluate-failure");
  write_fp_experiment(dir, 1);
  fs::create_directories(dir / "out");
  const std::map<std::string, std::string> earlier{
      {"results.h5", "an earlier run's results.h5"},
      {"results.json", "{\"format\": \"moqa-results\", \"earlier\": true}\n"},
      {"results.md", "# an earlier run\n"}};
  for (const auto& [name, content] : earlier) std::ofstream(dir / "out" / name, std::ios::binary) << content;

  const auto run = run_pipeline(dir / "experiment.toml");
  EXPECT_NE(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("moqa: rank "));
  EXPECT_THAT(run.output, HasSubstr("fewer than one window of seq_len = 64"));
  for (const auto& [name, content] : earlier) EXPECT_EQ(read_file(dir / "out" / name), content) << name;
}

// ---- The whole pipeline on the trained mixtral-tiny ---------------------------------------------------

fs::path trained() { return test::assets_dir() / "trained"; }

// The sweep's two runs (about 35 s on 2 cores), shared by the checks below. One test case: CTest runs every
// case in its own process, which would repeat the runs.
struct Sweep {
  fs::path dir;
  fs::path run_dir(const std::string& method) const { return dir / "out" / ("method-" + method); }
  json summary(const std::string& method) const { return read_json(run_dir(method) / "results.json"); }
};

// Writes the experiment into `dir` and runs its sweep as two Slurm array tasks would.
std::vector<test::CommandResult> run_sweep(const fs::path& dir) {
  const fs::path c = trained() / "corpus_xz";
  std::ostringstream toml;
  toml << "[experiment]\nname = \"allocation-e2e\"\nseed = 0\noutput_dir = " << toml_path(dir / "out") << "\n\n"
       << "[model]\npath = " << toml_path(trained() / "mixtral-tiny") << "\n\n";
  for (const char* d : {"wiki", "shakespeare"})
    toml << "[[calibration]]\nname = \"" << d << "\"\npath = " << toml_path(c / (std::string(d) + ".train.txt.xz"))
         << "\nsamples = 16\nseq_len = 256\nmax_tokens = 200000\n\n";
  toml << "[allocation]\nmethod = \"uniform\"\nmatch_uniform_bits = 3\ncandidate_bits = [2, 3, 4]\n\n"
       << "[quantization]\nmethod = \"rtn\"\ngroup_size = 128\n\n";
  for (const char* d : {"wiki", "shakespeare", "code"})
    toml << "[[evaluation]]\nname = \"" << d << "\"\npath = " << toml_path(c / (std::string(d) + ".test.txt.xz"))
         << "\nseq_len = 256\nmax_tokens = 16384\ndistribution = \"" << (std::string(d) == "code" ? "novel" : "known")
         << "\"\n\n";
  toml << "[[evaluation]]\nname = \"cloze_wiki\"\nkind = \"zero_shot\"\ntask = \"multiple_choice\"\npath = "
       << toml_path(test::source_dir() / "experiments" / "data" / "cloze_wiki.jsonl")
       << "\nlimit = 40\ndistribution = \"known\"\n\n"
       << "[runtime]\ndevice = \"cpu\"\nbatch_windows = 4\n\n"
       << "[sweep]\n\"allocation.method\" = [\"uniform\", \"budgeted\"]\n";
  std::ofstream(dir / "experiment.toml") << toml.str();
  std::vector<test::CommandResult> runs;
  for (int index = 0; index < 2; ++index)
    runs.push_back(test::run_command("timeout 300 " + mpiexec(2) + " " + shell_quoted(test::pipeline_exe()) +
                                     " sweep " + shell_quoted(dir / "experiment.toml") + " --index " +
                                     std::to_string(index)));
  return runs;
}

void expect_budgeted_beats_uniform(const Sweep& sweep) {
  const json uniform = sweep.summary("uniform"), budgeted = sweep.summary("budgeted");
  ASSERT_EQ(uniform["models"].size(), 2u);
  ASSERT_EQ(budgeted["models"].size(), 2u);
  const json& u = uniform["models"][1];
  const json& b = budgeted["models"][1];
  ASSERT_EQ(u["model"], "quantized");
  ASSERT_EQ(b["model"], "quantized");
  EXPECT_EQ(u["method"], "uniform/rtn");
  EXPECT_EQ(b["method"], "budgeted/rtn");
  // Equal stored budgets (uniform 3-bit's, match_uniform_bits): exactly 3 code bits per routed-expert
  // parameter in both, 3.1875 with the group-128 f16 scales and U8 zero points.
  EXPECT_NEAR(u["bits_experts"].get<double>(), 3.0, 1e-12);
  EXPECT_NEAR(b["bits_experts"].get<double>(), 3.0, 1e-12);
  EXPECT_NEAR(u["stored_bits_experts"].get<double>(), 3.1875, 1e-12);
  EXPECT_NEAR(b["stored_bits_experts"].get<double>(), 3.1875, 1e-12);
  EXPECT_EQ(uniform["allocation"]["method"], "uniform");
  EXPECT_EQ(budgeted["allocation"]["method"], "budgeted");

  const json& fp = uniform["models"][0];
  for (const char* set : {"wiki", "shakespeare"}) {
    const double fp_ppl = fp["perplexity"][set]["ppl"], u_ppl = u["perplexity"][set]["ppl"],
                 b_ppl = b["perplexity"][set]["ppl"];
    EXPECT_LT(b_ppl, u_ppl) << set;
    EXPECT_GT(b_ppl, fp_ppl) << set << ": 3 bits cannot beat the full-precision model";
    std::printf("[ measured ] %s: FP %.2f, uniform 3-bit RTN %.2f, budgeted 3-bit RTN %.2f\n", set, fp_ppl, u_ppl,
                b_ppl);
  }
  const double u_known = u["averages"]["ppl"]["known"], b_known = b["averages"]["ppl"]["known"];
  std::printf("[ measured ] known mean PPL: uniform %.2f, budgeted %.2f (%+.1f%%); novel code: uniform %.2f, "
              "budgeted %.2f\n",
              u_known, b_known, 100.0 * (b_known / u_known - 1.0), u["perplexity"]["code"]["ppl"].get<double>(),
              b["perplexity"]["code"]["ppl"].get<double>());
  EXPECT_LT(b_known, 0.99 * u_known);
}

void expect_run_folders(const Sweep& sweep) {
  for (const char* method : {"uniform", "budgeted"}) {
    expect_files_agree(sweep.run_dir(method));
    const json s = sweep.summary(method);
    EXPECT_EQ(s["sweep"]["count"], 2);
    EXPECT_EQ(s["sweep"]["assignments"]["allocation.method"], method);
    std::vector<std::string> stages;
    for (const json& t : s["stages"]) stages.push_back(t["stage"]);
    EXPECT_EQ(stages, (std::vector<std::string>{"calibrate", "allocate", "quantize", "evaluate"}));
    EXPECT_TRUE(io::H5Reader::open(sweep.run_dir(method) / "results.h5").exists("/allocation"));
    EXPECT_EQ(s["datasets"][2]["distribution"], "novel");
  }
}

void expect_collect_table(const Sweep& sweep) {
  const fs::path script = test::source_dir() / "scripts" / "collect.py";
  const fs::path csv = sweep.dir / "table.csv";
  const auto run = test::run_command("/usr/bin/python3 " + shell_quoted(script) + " " +
                                     shell_quoted(sweep.dir / "out") + " --csv " + shell_quoted(csv) + " 2>&1");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  // One FP row (the same baseline in both runs), then the runs in sweep order.
  EXPECT_THAT(run.output, HasSubstr("collect: 2 results.json, 3 rows"));
  EXPECT_THAT(run.output, HasSubstr("| run | allocation.method | method | bits_experts | bits_all_linear | "
                                    "stored_bits_experts | stored_bits_all_linear | ppl wiki (known, windows) | "
                                    "ppl shakespeare (known, windows) | ppl code (novel, windows) |"));
  const json b = sweep.summary("budgeted")["models"][1];
  EXPECT_THAT(run.output, HasSubstr("| method-budgeted | budgeted | budgeted/rtn | 3.000 | "));
  EXPECT_THAT(run.output, HasSubstr(cell(b["perplexity"]["wiki"]["ppl"].get<double>(), 2, " |")));
  const std::string table = read_file(csv);
  std::vector<std::string> lines;
  std::istringstream in(table);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 4u) << table;
  EXPECT_THAT(lines[0], HasSubstr("run,experiment,allocation.method,method,bits_experts,bits_all_linear,"
                                  "stored_bits_experts,stored_bits_all_linear,ppl:wiki,"));
  EXPECT_THAT(lines[1], HasSubstr(",FP,16.0,16.0,"));
  EXPECT_THAT(lines[2], HasSubstr("method-uniform,allocation-e2e,uniform,uniform/rtn,3.0,"));
  EXPECT_THAT(lines[3], HasSubstr("method-budgeted,allocation-e2e,budgeted,budgeted/rtn,3.0,"));
}

void expect_plots(const Sweep& sweep) {
  const fs::path script = test::source_dir() / "scripts" / "plot_sweep.py";
  for (const std::string& options : {std::string(), std::string(" --group known --bits all_linear --linear")}) {
    const fs::path png = sweep.dir / ("plot" + std::to_string(options.size()) + ".png");
    const auto run =
        test::run_command("/usr/bin/python3 " + shell_quoted(script) + " " + shell_quoted(sweep.dir / "out") + " -o " +
                          shell_quoted(png) + options + " 2>&1");
    ASSERT_EQ(run.exit_code, 0) << run.output;
    EXPECT_THAT(run.output, HasSubstr("2 runs of 2 methods"));
    const std::string bytes = read_file(png);
    ASSERT_GT(bytes.size(), 1000u);
    EXPECT_EQ(bytes.substr(1, 3), "PNG");
  }
}

TEST(PipelineSweep, BudgetedBeatsUniformThreeBitRtnAndEveryOutputAgrees) {
  MOQA_REQUIRE_ASSET(trained() / "mixtral-tiny" / "config.json");
  MOQA_REQUIRE_ASSET(trained() / "corpus_xz" / "wiki.train.txt.xz");
  MOQA_REQUIRE_ASSET(trained() / "corpus_xz" / "code.test.txt.xz");
  const Sweep sweep{test::temp_dir("pipeline-sweep")};
  const std::vector<test::CommandResult> runs = run_sweep(sweep.dir);
  for (size_t index = 0; index < runs.size(); ++index)
    ASSERT_EQ(runs[index].exit_code, 0) << "sweep --index " << index << "\n" << runs[index].output;
  {
    SCOPED_TRACE("3-bit budgeted vs uniform RTN");
    expect_budgeted_beats_uniform(sweep);
  }
  {
    SCOPED_TRACE("each run's folder and files");
    expect_run_folders(sweep);
  }
  // The scripts need /usr/bin/python3 (collect.py: standard library only; plot_sweep.py: matplotlib). When
  // they cannot run, everything above has been checked and the test then reports itself skipped (fails in CI).
  MOQA_REQUIRE(fs::exists("/usr/bin/python3"),
               "no /usr/bin/python3: scripts/collect.py and scripts/plot_sweep.py not tested");
  {
    SCOPED_TRACE("scripts/collect.py");
    expect_collect_table(sweep);
  }
  MOQA_REQUIRE(test::run_command("/usr/bin/python3 -c 'import matplotlib'").exit_code == 0,
               "/usr/bin/python3 lacks matplotlib: scripts/plot_sweep.py not tested");
  {
    SCOPED_TRACE("scripts/plot_sweep.py");
    expect_plots(sweep);
  }
}

}  // namespace
}  // namespace moqa::pipeline
