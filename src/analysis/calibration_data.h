#pragma once
// One calibration distribution's data, identical on every rank: the whole token stream of its corpus and
// the global list of sampled windows. Which windows a rank processes is decided later
// (data::shard_range over this list), so the samples never depend on the number of ranks.
#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "config/experiment.h"
#include "data/documents.h"
#include "tokenizer/tokenizer.h"

namespace moqa::analysis {

struct DistributionSample {
  std::string name;
  std::string source;                  // the corpus path, for provenance
  uint64_t seed = 0;                   // the sampler's seed
  int64_t seq_len = 0;
  // The whole token stream: the corpus tokenized as one string, or with sampling = "gptq" its documents
  // tokenized one by one and laid end to end (data/documents.h).
  std::vector<int32_t> tokens;
  std::vector<int64_t> window_starts;  // the global sample list, in draw order
};

// The sampler's seed for a distribution: data::derive_seed(experiment seed, "calibration/<name>").
uint64_t calibration_seed(int64_t experiment_seed, const std::string& name);

// Rank 0 reads and tokenizes the corpus and draws the windows; the result is broadcast over `comm`, so
// only rank 0 needs to read the file. Collective. A bad corpus throws on rank 0 only (the caller aborts
// the job).
DistributionSample prepare_distribution(const config::CalibrationSet& set, const Tokenizer& tokenizer,
                                        int64_t experiment_seed, MPI_Comm comm);

// The same from an in-memory token stream (tests, or callers with their own tokenization); no MPI.
// mode gptq needs document boundaries: sample_documents.
DistributionSample sample_distribution(std::string name, std::vector<int32_t> tokens, int64_t seq_len,
                                       int64_t samples, uint64_t seed,
                                       config::SampleMode mode = config::SampleMode::random_offsets);

// sampling = "gptq" from documents tokenized one by one (data::tokenize_documents); no MPI. moqa::Error
// naming `source`, seq_len and the longest document when no document has seq_len tokens.
DistributionSample sample_documents(std::string name, const std::string& source, data::TokenizedDocuments documents,
                                    int64_t seq_len, int64_t samples, uint64_t seed);

}  // namespace moqa::analysis
