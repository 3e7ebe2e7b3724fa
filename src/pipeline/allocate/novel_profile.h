#pragma once
// The text a novel [[evaluation]] perplexity set is profiled on before its re-allocation
// (quantization.channel_adjustment = "reallocate"; docs/ALLOCATION.md, "Profiling a novel distribution"):
//   transductive   random windows of the scored set's own tokens (its max_tokens), as before the choice existed
//   file           random windows of the first profile_tokens tokens (0: all) of profile_path, same format/field
//   leading_slice  random windows of tokens [0, profile_tokens) of the scored stream; the evaluation of every
//                  model starts its windows at profile_tokens (EvaluationSet::first_scored_token)
// The windows are drawn as a [[calibration]] set's: as many as the first one has, of its seq_len, at random
// offsets seeded by the experiment seed and "novel/<set name>".
#include <cstdint>
#include <filesystem>
#include <string>

#include "analysis/calibration_data.h"
#include "config/experiment.h"
#include "data/corpus.h"
#include "data/perplexity_stream.h"
#include "tokenizer/tokenizer.h"

namespace moqa::pipeline {

// How an [[evaluation]] perplexity set's text is read and windowed for scoring (the evaluate stage and the
// leading slice use the same stream, so the slice is exactly the tokens scoring skips).
data::CorpusSource evaluation_source(const config::EvaluationSet& set, const std::filesystem::path& path);
data::PerplexityStreamOptions scored_stream_options(const config::EvaluationSet& set);

struct NovelProfileText {
  analysis::DistributionSample sample;  // the windows the statistics are measured on
  config::NovelProfile mode = config::NovelProfile::transductive;
  std::filesystem::path source;         // the file the profile tokens come from
  int64_t token_begin = 0;              // the profile text: tokens [token_begin, token_end) of source's stream
  int64_t token_end = 0;
  int64_t scored_from = 0;              // the set's scored windows start at this token of its own stream
};

// Deterministic and local (every rank computes the same, without communication). moqa::Error naming the set
// and the file when the source has fewer tokens than one window, or (leading_slice) the scored stream keeps
// no window after the slice.
NovelProfileText novel_profile_text(const config::Experiment& e, const config::EvaluationSet& set,
                                    const Tokenizer& tokenizer);

}  // namespace moqa::pipeline
