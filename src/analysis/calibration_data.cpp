#include "analysis/calibration_data.h"

#include <algorithm>

#include "core/error.h"
#include "data/corpus.h"
#include "data/random.h"
#include "data/sampler.h"
#include "dist/mpi_session.h"

namespace moqa::analysis {
namespace {

template <class T>
void broadcast_vector(std::vector<T>& values, MPI_Datatype type, MPI_Comm comm) {
  int64_t size = static_cast<int64_t>(values.size());
  dist::check_mpi(MPI_Bcast(&size, 1, MPI_INT64_T, 0, comm), "MPI_Bcast (calibration data size)");
  values.resize(static_cast<size_t>(size));
  constexpr int64_t chunk = int64_t{1} << 28;
  for (int64_t first = 0; first < size; first += chunk) {
    const int count = static_cast<int>(std::min(chunk, size - first));
    dist::check_mpi(MPI_Bcast(values.data() + first, count, type, 0, comm), "MPI_Bcast (calibration data)");
  }
}

}  // namespace

uint64_t calibration_seed(int64_t experiment_seed, const std::string& name) {
  return data::derive_seed(static_cast<uint64_t>(experiment_seed), "calibration/" + name);
}

DistributionSample sample_distribution(std::string name, std::vector<int32_t> tokens, int64_t seq_len,
                                       int64_t samples, uint64_t seed, config::SampleMode mode) {
  DistributionSample out;
  out.name = std::move(name);
  out.seed = seed;
  out.seq_len = seq_len;
  out.tokens = std::move(tokens);
  out.window_starts =
      data::sample_window_starts(static_cast<int64_t>(out.tokens.size()), seq_len, samples, seed, mode);
  return out;
}

DistributionSample sample_documents(std::string name, const std::string& source, data::TokenizedDocuments documents,
                                    int64_t seq_len, int64_t samples, uint64_t seed) {
  const int64_t longest = data::longest_document(documents.offsets);
  MOQA_CHECK(longest >= seq_len, "calibration \"", name,
             "\": sampling = \"gptq\" needs a document of at least seq_len = ", seq_len,
             " tokens, but the longest of the ", documents.documents(), " documents of ", source, " has ", longest,
             " tokens (lower seq_len, or use sampling = \"random_offsets\", whose windows may span documents)");
  DistributionSample out;
  out.name = std::move(name);
  out.source = source;
  out.seed = seed;
  out.seq_len = seq_len;
  out.window_starts = data::sample_document_windows(documents.offsets, seq_len, samples, seed);
  out.tokens = std::move(documents.tokens);
  return out;
}

DistributionSample prepare_distribution(const config::CalibrationSet& set, const Tokenizer& tokenizer,
                                        int64_t experiment_seed, MPI_Comm comm) {
  int rank = 0;
  dist::check_mpi(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  DistributionSample out;
  if (rank == 0) {
    const data::CorpusSource source{
        .path = set.path,
        .format = set.format,
        .jsonl_field = set.field};
    const data::TokenizeOptions tokenize{.max_tokens = set.max_tokens};
    if (set.sampling == config::SampleMode::gptq) {
      out = sample_documents(set.name, set.path.string(), data::load_documents(tokenizer, source, tokenize),
                             set.seq_len, set.samples, calibration_seed(experiment_seed, set.name));
    } else {
      std::vector<int32_t> tokens = data::load_token_stream(tokenizer, source, tokenize);
      MOQA_CHECK(static_cast<int64_t>(tokens.size()) >= set.seq_len, "calibration \"", set.name, "\": ",
                 set.path.string(), " gives ", tokens.size(), " tokens, fewer than one window of seq_len = ",
                 set.seq_len);
      out = sample_distribution(set.name, std::move(tokens), set.seq_len, set.samples,
                                calibration_seed(experiment_seed, set.name), set.sampling);
    }
  }
  out.name = set.name;
  out.source = set.path.string();
  out.seq_len = set.seq_len;
  out.seed = calibration_seed(experiment_seed, set.name);
  broadcast_vector(out.tokens, MPI_INT32_T, comm);
  broadcast_vector(out.window_starts, MPI_INT64_T, comm);
  return out;
}

}  // namespace moqa::analysis
