#include "pipeline/resume/checkpoint_reuse.h"

#include <mpi.h>

#include <ostream>

#include "config/to_toml.h"
#include "core/error.h"
#include "io/atomic_file.h"
#include "io/json_file.h"
#include "pipeline/channel_adjustment.h"
#include "pipeline/quantize/quantized_checkpoint.h"
#include "quant/checkpoint.h"

namespace moqa::pipeline {
namespace fs = std::filesystem;
namespace {

constexpr const char* kRecordFormat = "moqa-resume";
constexpr int kRecordVersion = 1;

template <class T>
std::string joined(const std::vector<T>& values) {
  std::string out;
  for (const T& v : values) out += cat(out.empty() ? "" : " ", v);
  return out;
}

nlohmann::json report_to_json(const QuantizeReport& r) {
  nlohmann::json loss = nlohmann::json::array();
  for (const auto& layer : r.expert_loss) {
    nlohmann::json experts = nlohmann::json::array();
    for (const auto& matrices : layer) experts.push_back({matrices[0], matrices[1], matrices[2]});
    loss.push_back(std::move(experts));
  }
  return {{"tensors", r.tensors},
          {"rtn_fallbacks", r.rtn_fallbacks},
          {"windows", r.windows},
          {"tokens", r.tokens},
          {"expert_loss", std::move(loss)}};
}

QuantizeReport report_from_json(const nlohmann::json& j) {
  QuantizeReport r;
  r.tensors = j.at("tensors").get<int64_t>();
  r.rtn_fallbacks = j.at("rtn_fallbacks").get<int64_t>();
  r.windows = j.at("windows").get<int64_t>();
  r.tokens = j.at("tokens").get<int64_t>();
  for (const nlohmann::json& layer : j.at("expert_loss")) {
    r.expert_loss.emplace_back();
    for (const nlohmann::json& matrices : layer) r.expert_loss.back().push_back(matrices.get<std::array<double, 3>>());
  }
  return r;
}

// Rank 0: the record when the checkpoint can be reused, else nullopt and
// why_not.
std::optional<CheckpointRecord> reusable_record(const fs::path& dir, const ResumeKey& key, std::string& why_not) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    why_not = cat("there is no ", dir.string());
    return std::nullopt;
  }
  try {
    quant::open_quantized_checkpoint(dir);  // complete (index present) and of this format
  } catch (const std::exception& error) {
    why_not = cat("cannot open it: ", error.what());
    return std::nullopt;
  }
  if (!fs::exists(dir / kCheckpointRecordFile, ec)) {
    why_not = cat("it has no ", kCheckpointRecordFile,
                  " (the run that wrote it did not finish the quantize stage, "
                  "or predates runtime.resume)");
    return std::nullopt;
  }
  try {
    CheckpointRecord record = read_checkpoint_record(dir);
    why_not = first_difference(record.key, key);
    if (why_not.empty()) return record;
  } catch (const std::exception& error) {
    why_not = error.what();
  }
  return std::nullopt;
}

void load_targets(const fs::path& dir, const QuantizationPlan& plan, const ChannelSets* channels,
                  QuantizedWeights& store, int rank) {
  const io::CheckpointReader reader = quant::open_quantized_checkpoint(dir);
  for (const QuantTarget& t : plan.targets) {
    if (t.is_routed_expert() && t.quantizer != rank) continue;  // another rank's expert
    quant::QuantizedMatrix matrix = quant::load_quantized(reader, t.name);
    MOQA_CHECK(matrix.bits == t.bits && matrix.rows == t.shape.at(0) && matrix.cols == t.shape.at(1),
               reader.file_of(t.name).string(), ": ", t.name, " is stored as [", matrix.rows, ", ", matrix.cols,
               "] at ", matrix.bits, " bits, expected ", to_string(t.shape), " at ", t.bits, " bits");
    // The cache as the quantize stage left it (GPTQ's final values of the exact columns), not re-made from
    // the original weights: a resumed run serves what the fresh run served.
    quant::ChannelCache cache;
    if (channels && !channels->empty() && t.is_routed_expert()) {
      cache = quant::load_channel_cache(reader, t.name);
      const quant::GptqExact expected = expert_exact_entries(
          t, channels->at(static_cast<size_t>(t.moe_index)).at(static_cast<size_t>(t.id.expert)));
      MOQA_CHECK(cache.columns == expected.columns && cache.rows == expected.rows, reader.file_of(t.name).string(),
                 ": ", t.name, " stores a channel cache of ", cache.columns.size(), " columns and ", cache.rows.size(),
                 " rows, not the planned ", expected.columns.size(), " columns and ", expected.rows.size(), " rows");
    }
    store.add(t.name, std::move(matrix), std::move(cache));
  }
}

}  // namespace

ResumeKey quantized_checkpoint_key(const config::Experiment& e, const dist::MpiSession& session,
                                   const allocate::BitMatrix& bits, const QuantizationPlan& plan,
                                   const ChannelSets* channels) {
  const bool gptq = e.quantization.method == config::QuantMethod::gptq;
  const RunFacts facts{.config_toml = config::to_toml(e),
                       .ranks = session.size(),
                       .backend = gptq ? backend_description(e, session) : std::string(),
                       .files = input_file_stamps(e)};
  ResumeKey key = checkpoint_key(facts, e);
  for (size_t l = 0; l < bits.size(); ++l)
    key.push_back({cat("allocation bits of MoE layer ", plan.moe_layers.at(l)), joined(bits[l])});
  key.push_back({"non-expert bits", std::to_string(plan.non_expert_bits)});
  if (gptq && channels)
    for (size_t l = 0; l < channels->size(); ++l) {
      std::string experts;
      for (size_t x = 0; x < (*channels)[l].size(); ++x) experts += cat(x ? "; " : "", joined((*channels)[l][x]));
      key.push_back({cat("cached channels of MoE layer ", plan.moe_layers.at(l)), experts});
    }
  return key;
}

void write_checkpoint_record(const fs::path& checkpoint, const CheckpointRecord& record) {
  const nlohmann::json j = {
      {"format", kRecordFormat}, {"format_version", kRecordVersion},        {"git_commit", record.git_commit},
      {"utc", record.utc},       {"report", report_to_json(record.report)}, {"key", key_to_json(record.key)}};
  io::write_file_atomic(checkpoint / kCheckpointRecordFile, j.dump(1) + "\n");
}

void remove_checkpoint_record(const fs::path& checkpoint) {
  std::error_code ec;
  fs::remove(checkpoint / kCheckpointRecordFile, ec);
  MOQA_CHECK(!ec, "cannot remove ", (checkpoint / kCheckpointRecordFile).string(), ": ", ec.message());
}

CheckpointRecord read_checkpoint_record(const fs::path& checkpoint) {
  const fs::path path = checkpoint / kCheckpointRecordFile;
  const nlohmann::json j = io::read_json_file(path, "quantized checkpoint record");
  CheckpointRecord record;
  try {
    MOQA_CHECK(
        j.is_object() && j.value("format", "") == kRecordFormat && j.value("format_version", 0) == kRecordVersion,
        path.string(), ": not a record of format \"", kRecordFormat, "\" version ", kRecordVersion);
    record.git_commit = j.at("git_commit").get<std::string>();
    record.utc = j.at("utc").get<std::string>();
    record.report = report_from_json(j.at("report"));
    record.key = key_from_json(j.at("key"), path.string() + ": key");
  } catch (const nlohmann::json::exception& e) {
    fail(path.string(), ": ", e.what());
  }
  return record;
}

std::optional<ReusedCheckpoint> reuse_checkpoint(const config::Experiment& e, const dist::MpiSession& session,
                                                 std::ostream& log, const ResumeKey& key, const QuantizationPlan& plan,
                                                 const ChannelSets* channels, QuantizedWeights& store) {
  const fs::path dir = checkpoint_paths(e).quantized;
  ReusedCheckpoint out{.dir = dir, .record = {}};
  int reusable = 0;
  if (session.is_root()) {
    std::string why_not;
    if (std::optional<CheckpointRecord> record = reusable_record(dir, key, why_not)) {
      out.record = std::move(*record);
      reusable = 1;
    } else {
      log << "quantize: not reusing the quantized checkpoint (runtime.resume): " << why_not << "\n";
    }
  }
  dist::check_mpi(MPI_Bcast(&reusable, 1, MPI_INT, 0, session.world()), "MPI_Bcast (checkpoint reuse)");
  if (!reusable) return std::nullopt;

  // Every rank loads its part; the first rank that cannot tells the others why.
  std::string error;
  try {
    load_targets(dir, plan, channels, store, session.rank());
  } catch (const std::exception& failure) {
    error = failure.what();
  }
  const int mine = error.empty() ? session.size() : session.rank();
  int first_failed = 0;
  dist::check_mpi(MPI_Allreduce(&mine, &first_failed, 1, MPI_INT, MPI_MIN, session.world()),
                  "MPI_Allreduce (checkpoint reuse)");
  if (first_failed < session.size()) {
    error = dist::broadcast_string(session.world(), error, first_failed);
    log << "quantize: not reusing the quantized checkpoint (runtime.resume): "
           "rank "
        << first_failed << " cannot load it: " << error << "\n";
    return std::nullopt;
  }
  log << "quantize: reusing the quantized checkpoint " << dir.string() << " (written " << out.record.utc << " by moqa "
      << out.record.git_commit << "): same allocation, [quantization] and inputs\n";
  return out;
}

}  // namespace moqa::pipeline
