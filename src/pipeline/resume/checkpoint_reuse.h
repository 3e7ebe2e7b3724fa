#pragma once
// runtime.resume for the quantize stage: the quantized checkpoint an earlier
// run saved in <output_dir>/quantized-model is loaded instead of quantizing
// again when it is complete and its record holds the same key as this run
// (pipeline/resume/resume_key.h: checkpoint_key, plus the allocation's width of every
// routed expert, the non-expert width and, for GPTQ with channel adjustment,
// the cached channels, which the sequential pass serves in full precision).
//
// The record, <checkpoint>/moqa_resume.json, is written by rank 0 after the
// checkpoint's index (the checkpoint is complete) and removed before a run
// rewrites the checkpoint, so it only ever describes the shards beside it. It
// holds the key and what the quantize stage reported (tensors, RTN fallbacks,
// GPTQ's windows, tokens and per-expert losses), which /quantization repeats.
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>

#include "config/experiment.h"
#include "dist/mpi_session.h"
#include "pipeline/quantize/quantization_plan.h"
#include "pipeline/quantize/quantize_pass.h"
#include "pipeline/quantize/quantized_weights.h"
#include "pipeline/resume/resume_key.h"

namespace moqa::pipeline {

inline constexpr const char* kCheckpointRecordFile = "moqa_resume.json";

// This run's key for its quantized checkpoint. Rank 0; with GPTQ it opens a
// backend to describe it.
ResumeKey quantized_checkpoint_key(const config::Experiment& experiment, const dist::MpiSession& session,
                                   const allocate::BitMatrix& bits, const QuantizationPlan& plan,
                                   const ChannelSets* channels);

struct CheckpointRecord {
  ResumeKey key;
  QuantizeReport report;  // rank 0's, complete
  std::string git_commit;
  std::string utc;  // when it was written
};

// Rank 0. The record is written atomically; removing a missing one is fine.
void write_checkpoint_record(const std::filesystem::path& checkpoint, const CheckpointRecord& record);
void remove_checkpoint_record(const std::filesystem::path& checkpoint);
// Throws moqa::Error naming the file and the key when it is not a record.
CheckpointRecord read_checkpoint_record(const std::filesystem::path& checkpoint);

struct ReusedCheckpoint {
  std::filesystem::path dir;
  CheckpointRecord record;  // complete on rank 0 only
};

// Collective. Rank 0 decides whether the checkpoint can be reused and says so
// in one line of `log` (if not, why); then every rank loads the tensors of
// `plan` it holds (its routed experts and every replicated quantized tensor;
// any number of ranks can read a checkpoint) into `store`, with the channel
// caches stored next to them (checked against `channels`). nullopt when nothing is reused,
// also when some rank could not load its tensors (rank 0 logs the first such
// rank's reason): then `store` may hold some tensors and the caller starts over
// with an empty one.
std::optional<ReusedCheckpoint> reuse_checkpoint(const config::Experiment& experiment, const dist::MpiSession& session,
                                                 std::ostream& log, const ResumeKey& key, const QuantizationPlan& plan,
                                                 const ChannelSets* channels, QuantizedWeights& store);

}  // namespace moqa::pipeline
