#pragma once
// runtime.resume: what a stage's results depend on, as a list of named items.
// Results of an earlier run are reused only when every one of the earlier
// run's items equals this run's (docs/CONFIG.md, `resume`). An item is
//   - a resolved configuration key, flattened to a dotted name
//     ("calibration.0.samples"), taken from the resolved TOML (config::to_toml,
//     stored in results.h5 as /provenance/config_toml);
//   - the number of ranks ("ranks") or the compute backend ("backend":
//     Backend::describe(), which names the device, precision and math
//     threads) where the numbers depend on them;
//   - the size and modification time of an input file ("file <path>"), so that
//     a model, tokenizer or corpus replaced in place is noticed.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/experiment.h"
#include "dist/mpi_session.h"
#include "io/hdf5_file.h"

namespace moqa::pipeline {

// An input file as a run found it.
struct FileStamp {
  std::string path;  // absolute
  int64_t bytes = 0;
  int64_t mtime_ns = 0;  // modification time, nanoseconds since the Unix epoch
};

// The files of a model directory that define the model: config.json, the
// safetensors index and every *.safetensors file (sorted).
std::vector<std::filesystem::path> model_files(const std::filesystem::path& model_dir);

// Every input file of the experiment that exists: the model's files, the
// tokenizer file, the [[calibration]] and [[evaluation]] corpora.
std::vector<FileStamp> input_file_stamps(const config::Experiment& experiment);

// /provenance/input_files, input_file_bytes, input_file_mtime_ns
// (docs/FORMATS.md).
void write_input_stamps(io::H5Writer& file, const std::vector<FileStamp>& stamps);
// Empty when the file has none.
std::vector<FileStamp> read_input_stamps(const io::H5Reader& file);

// What a run was, as far as its items go.
struct RunFacts {
  std::string config_toml;  // resolved
  int64_t ranks = 0;
  std::string backend;
  std::vector<FileStamp> files;
};

struct KeyItem {
  std::string name;
  std::string value;
};
using ResumeKey = std::vector<KeyItem>;

// The calibration statistics' items: experiment.seed, [model], every
// [[calibration]] key, the [analysis] keys the sums depend on (activation,
// significance, correlation, channel_significance, router_weighted,
// token_reweighting; with channel_significance = "sensitivity" also
// analysis.sensitivity_bits, quantization.group_size and .symmetric, its
// reference grid), runtime.batch_windows, ranks, backend, and the files of
// the model, the tokenizer and the calibration corpora. Which files: those of
// `now` (this run's experiment), stamped as `facts` recorded them.
ResumeKey statistics_key(const RunFacts& facts, const config::Experiment& now);

// The quantized checkpoint's items before the allocation: [model],
// [quantization] except save_checkpoint and export_dequantized, the model's
// files; with GPTQ also what its calibration pass depends on: experiment.seed,
// every [[calibration]] key, runtime.batch_windows, backend, the tokenizer and
// calibration files, and ranks unless batch_windows = 1 (then GPTQ's result is
// the same on any number of ranks).
ResumeKey checkpoint_key(const RunFacts& facts, const config::Experiment& now);

// "" when the keys are equal; else the first item that differs, for the log:
// `calibration.0.samples is 8 in this run, 6 in the earlier one`.
std::string first_difference(const ResumeKey& earlier, const ResumeKey& now);

// ResumeKey <-> JSON (an array of [name, value] pairs), for files that record a
// key. key_from_json throws moqa::Error naming `source` when the JSON is not
// such an array.
nlohmann::json key_to_json(const ResumeKey& key);
ResumeKey key_from_json(const nlohmann::json& json, const std::string& source);

// Backend::describe() of the backend this rank computes with (opens one for
// the purpose); on failure the reason, which then differs from any recorded
// description.
std::string backend_description(const config::Experiment& experiment, const dist::MpiSession& session);

}  // namespace moqa::pipeline
