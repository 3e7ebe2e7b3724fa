#include "pipeline/resume/resume_key.h"

#include <toml++/toml.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <sstream>

#include "core/error.h"
#include "pipeline/rank_model.h"

namespace moqa::pipeline {
namespace fs = std::filesystem;
namespace {

std::vector<fs::path> tokenizer_files(const config::Experiment& e) {
  if (e.model.byte_level_tokens()) return {};
  return {e.model.tokenizer};
}

std::vector<fs::path> calibration_files(const config::Experiment& e) {
  std::vector<fs::path> out;
  for (const config::CalibrationSet& set : e.calibration) out.push_back(set.path);
  return out;
}

void append(std::vector<fs::path>& to, const std::vector<fs::path>& files) {
  to.insert(to.end(), files.begin(), files.end());
}

// "2026-01-31 12:00:00.123456789 UTC"
std::string utc_time(int64_t ns_since_epoch) {
  const int64_t ns_per_s = 1000000000;
  const int64_t seconds = ns_since_epoch / ns_per_s - (ns_since_epoch % ns_per_s < 0 ? 1 : 0);
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char text[64];
  const size_t n = std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &utc);
  std::snprintf(text + n, sizeof text - n, ".%09lld UTC", static_cast<long long>(ns_since_epoch - seconds * ns_per_s));
  return text;
}

// One item per file; "not recorded" where the facts have no stamp of it.
void add_files(ResumeKey& key, const std::vector<fs::path>& files, const RunFacts& facts) {
  std::map<std::string, const FileStamp*> stamps;
  for (const FileStamp& s : facts.files) stamps.emplace(s.path, &s);
  for (const fs::path& file : files) {
    const auto it = stamps.find(file.string());
    key.push_back({cat("file ", file.string()),
                   it == stamps.end() ? std::string("not recorded")
                                      : cat(it->second->bytes, " bytes, modified ", utc_time(it->second->mtime_ns))});
  }
}

std::string render(const toml::node& node) {
  std::ostringstream out;
  node.visit([&](const auto& value) { out << value; });
  return out.str();
}

// Leaves of `node` as items named by their dotted path; arrays of tables by
// index, other arrays whole.
void flatten(const toml::node& node, const std::string& name, ResumeKey& key) {
  if (const toml::table* table = node.as_table()) {
    for (const auto& [child, value] : *table) flatten(value, cat(name, ".", child.str()), key);
  } else if (const toml::array* array = node.as_array(); array && !array->empty() && array->is_array_of_tables()) {
    for (size_t i = 0; i < array->size(); ++i) flatten(*array->get(i), cat(name, ".", i), key);
  } else {
    key.push_back({name, render(node)});
  }
}

class ResolvedToml {
 public:
  explicit ResolvedToml(const std::string& text) {
    try {
      table_ = toml::parse(text, std::string("the resolved configuration"));
    } catch (const toml::parse_error& e) {
      fail("the resolved configuration does not parse as TOML: ", e.description(), " (line ", e.source().begin.line,
           ")");
    }
  }

  // Every leaf under the dotted path `path` ("analysis.fit", "model",
  // "calibration"); one "absent" item where the path does not exist.
  void add(ResumeKey& key, const std::string& path) const {
    const toml::node_view<const toml::node> node = table_.at_path(path);
    if (!node) {
      key.push_back({path, "absent"});
      return;
    }
    flatten(*node.node(), path, key);
  }
  // The leaves of table `path` except the keys in `except`.
  void add_except(ResumeKey& key, const std::string& path, const std::vector<std::string>& except) const {
    ResumeKey all;
    add(all, path);
    for (KeyItem& item : all) {
      const bool skipped = std::any_of(except.begin(), except.end(),
                                       [&](const std::string& name) { return item.name == cat(path, ".", name); });
      if (!skipped) key.push_back(std::move(item));
    }
  }

 private:
  toml::table table_;
};

std::string shown(const std::string& value) {
  constexpr size_t kLongest = 72;
  if (value.size() <= kLongest && value.find('\n') == std::string::npos) return value;
  return "a different value";
}

}  // namespace

std::vector<fs::path> model_files(const fs::path& model_dir) {
  std::vector<fs::path> out{model_dir / "config.json"};
  std::vector<fs::path> weights;
  std::error_code ec;
  for (fs::directory_iterator it(model_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const bool safetensors = name.size() > 12 && name.compare(name.size() - 12, 12, ".safetensors") == 0;
    if (safetensors || name == "model.safetensors.index.json") weights.push_back(it->path());
  }
  std::sort(weights.begin(), weights.end());
  out.insert(out.end(), weights.begin(), weights.end());
  return out;
}

std::vector<FileStamp> input_file_stamps(const config::Experiment& e) {
  std::vector<fs::path> files = model_files(e.model.path);
  append(files, tokenizer_files(e));
  append(files, calibration_files(e));
  for (const config::EvaluationSet& set : e.evaluation) files.push_back(set.path);
  std::vector<FileStamp> out;
  for (const fs::path& file : files) {
    if (std::any_of(out.begin(), out.end(), [&](const FileStamp& s) { return s.path == file.string(); })) continue;
    std::error_code size_error, time_error;
    const uintmax_t bytes = fs::file_size(file, size_error);
    const fs::file_time_type mtime = fs::last_write_time(file, time_error);
    if (size_error || time_error) continue;
    const auto since_epoch = fs::file_time_type::clock::to_sys(mtime).time_since_epoch();
    out.push_back({file.string(), static_cast<int64_t>(bytes),
                   static_cast<int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch).count())});
  }
  return out;
}

void write_input_stamps(io::H5Writer& file, const std::vector<FileStamp>& stamps) {
  std::vector<std::string> paths;
  std::vector<int64_t> bytes, mtimes;
  for (const FileStamp& s : stamps) {
    paths.push_back(s.path);
    bytes.push_back(s.bytes);
    mtimes.push_back(s.mtime_ns);
  }
  const Shape shape{static_cast<int64_t>(stamps.size())};
  file.write_strings("/provenance/input_files", paths);
  file.write("/provenance/input_file_bytes", bytes, shape);
  file.write("/provenance/input_file_mtime_ns", mtimes, shape);
}

std::vector<FileStamp> read_input_stamps(const io::H5Reader& file) {
  if (!file.exists("/provenance/input_files")) return {};
  const std::vector<std::string> paths = file.read_strings("/provenance/input_files");
  const std::vector<int64_t> bytes = file.read<int64_t>("/provenance/input_file_bytes").values;
  const std::vector<int64_t> mtimes = file.read<int64_t>("/provenance/input_file_mtime_ns").values;
  MOQA_CHECK(bytes.size() == paths.size() && mtimes.size() == paths.size(), file.path().string(),
             ": /provenance: input_files lists ", paths.size(), " files but input_file_bytes has ", bytes.size(),
             " and input_file_mtime_ns ", mtimes.size(), " values");
  std::vector<FileStamp> out;
  for (size_t i = 0; i < paths.size(); ++i) out.push_back({paths[i], bytes[i], mtimes[i]});
  return out;
}

ResumeKey statistics_key(const RunFacts& facts, const config::Experiment& now) {
  const ResolvedToml toml(facts.config_toml);
  ResumeKey key;
  toml.add(key, "experiment.seed");
  toml.add(key, "model");
  toml.add(key, "calibration");
  for (const char* name :
       {"activation", "significance", "correlation", "channel_significance", "router_weighted", "token_reweighting"})
    toml.add(key, cat("analysis.", name));
  // The sensitivity measure's RTN reference (analysis/calibrate.h); other measures do not read it.
  if (now.analysis.channel_significance == config::ChannelSignificance::sensitivity)
    for (const char* name : {"analysis.sensitivity_bits", "quantization.group_size", "quantization.symmetric"})
      toml.add(key, name);
  toml.add(key, "runtime.batch_windows");
  key.push_back({"ranks", std::to_string(facts.ranks)});
  key.push_back({"backend", facts.backend});
  std::vector<fs::path> files = model_files(now.model.path);
  append(files, tokenizer_files(now));
  append(files, calibration_files(now));
  add_files(key, files, facts);
  return key;
}

ResumeKey checkpoint_key(const RunFacts& facts, const config::Experiment& now) {
  const ResolvedToml toml(facts.config_toml);
  ResumeKey key;
  toml.add(key, "model");
  toml.add_except(key, "quantization", {"save_checkpoint", "export_dequantized"});
  std::vector<fs::path> files = model_files(now.model.path);
  if (now.quantization.method == config::QuantMethod::gptq) {
    toml.add(key, "experiment.seed");
    toml.add(key, "calibration");
    toml.add(key, "runtime.batch_windows");
    key.push_back({"backend", facts.backend});
    if (now.runtime.batch_windows != 1) key.push_back({"ranks", std::to_string(facts.ranks)});
    append(files, tokenizer_files(now));
    append(files, calibration_files(now));
  }
  add_files(key, files, facts);
  return key;
}

std::string first_difference(const ResumeKey& earlier, const ResumeKey& now) {
  std::map<std::string, const std::string*> before;
  for (const KeyItem& item : earlier) before.emplace(item.name, &item.value);
  for (const KeyItem& item : now) {
    const auto it = before.find(item.name);
    if (it == before.end())
      return cat(item.name, " is ", shown(item.value), " in this run, not recorded in the earlier one");
    if (*it->second != item.value)
      return cat(item.name, " is ", shown(item.value), " in this run, ", shown(*it->second), " in the earlier one");
    before.erase(it);
  }
  if (!before.empty())
    return cat(before.begin()->first, " is ", shown(*before.begin()->second),
               " in the earlier run, not part of this one");
  return "";
}

nlohmann::json key_to_json(const ResumeKey& key) {
  nlohmann::json out = nlohmann::json::array();
  for (const KeyItem& item : key) out.push_back(nlohmann::json::array({item.name, item.value}));
  return out;
}

ResumeKey key_from_json(const nlohmann::json& json, const std::string& source) {
  MOQA_CHECK(json.is_array(), source, ": expected an array of [name, value] pairs, found ", json.type_name());
  ResumeKey key;
  for (const nlohmann::json& item : json) {
    MOQA_CHECK(item.is_array() && item.size() == 2 && item[0].is_string() && item[1].is_string(), source,
               ": expected [name, value] pairs of strings, found ", item.dump());
    key.push_back({item[0].get<std::string>(), item[1].get<std::string>()});
  }
  return key;
}

std::string backend_description(const config::Experiment& experiment, const dist::MpiSession& session) {
  try {
    return open_backend(experiment, session)->describe();
  } catch (const Error& e) {
    return cat("unavailable (", e.what(), ")");
  }
}

}  // namespace moqa::pipeline
