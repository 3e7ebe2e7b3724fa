#pragma once
// How calibration windows are drawn from a corpus ([[calibration]] sampling; data/sampler.h draws them).
// Its own header so that the experiment schema (config/experiment.h) names the same enum.

namespace moqa::data {

enum class SampleMode {
  // Each window starts at an independent uniform offset in [0, tokens - seq_len] of the whole corpus
  // tokenized as one string (GPTQ's WikiText-2 calibration; windows may overlap, repeat or span documents).
  random_offsets,
  // Distinct windows from the non-overlapping grid k * seq_len of that string, drawn without replacement.
  disjoint,
  // GPTQ's C4 calibration: each document tokenized on its own; per window a uniformly random document of at
  // least seq_len tokens, then a uniform offset inside it, so no window crosses a document boundary.
  gptq,
};

}  // namespace moqa::data
