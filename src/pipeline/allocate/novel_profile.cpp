#include "pipeline/allocate/novel_profile.h"

#include <algorithm>

#include "core/error.h"

namespace moqa::pipeline {

data::CorpusSource evaluation_source(const config::EvaluationSet& set, const std::filesystem::path& path) {
  return {.path = path,
          .format = set.format,
          .jsonl_field = set.field};
}

data::PerplexityStreamOptions scored_stream_options(const config::EvaluationSet& set) {
  return {.seq_len = set.seq_len,
          .stride = set.stride,
          .keep_partial_last = set.keep_partial_last,
          .tokenize = {.bos = set.add_bos, .max_tokens = set.max_tokens},
          .first_token = set.first_scored_token()};
}

NovelProfileText novel_profile_text(const config::Experiment& e, const config::EvaluationSet& set,
                                    const Tokenizer& tokenizer) {
  MOQA_CHECK(!e.calibration.empty(), "evaluation \"", set.name,
             "\": profiling a novel set draws the windows of the first [[calibration]] set, and there is none");
  const config::CalibrationSet& shape = e.calibration.front();
  NovelProfileText out;
  out.mode = set.profile;
  out.scored_from = set.first_scored_token();
  std::vector<int32_t> tokens;
  switch (set.profile) {
    case config::NovelProfile::transductive:
      // What the allocate stage read before the choice existed: the calibration tokenization of the scored file.
      out.source = set.path;
      tokens = data::load_token_stream(tokenizer, evaluation_source(set, set.path), {.max_tokens = set.max_tokens});
      break;
    case config::NovelProfile::file:
      out.source = set.profile_path;
      tokens = data::load_token_stream(tokenizer, evaluation_source(set, set.profile_path),
                                       {.max_tokens = set.profile_tokens});
      break;
    case config::NovelProfile::leading_slice: {
      out.source = set.path;
      // The scored stream itself (same tokenization, BOS and max_tokens), cut where its windows begin.
      const data::PerplexityStreamOptions options = scored_stream_options(set);
      data::PerplexityStream stream =
          data::load_perplexity_stream(tokenizer, evaluation_source(set, set.path), set.protocol, options);
      MOQA_CHECK(!stream.windows.empty(), "evaluation \"", set.name, "\": ", set.path.string(), " gives ",
                 stream.tokens.size(), " tokens: after its first profile_tokens = ", set.profile_tokens,
                 " (profile = \"leading_slice\") no window of seq_len = ", set.seq_len,
                 " is left to score; lower profile_tokens or use profile = \"file\"");
      tokens.assign(stream.tokens.begin(), stream.tokens.begin() + set.profile_tokens);
      break;
    }
  }
  const auto size = static_cast<int64_t>(tokens.size());
  MOQA_CHECK(size >= shape.seq_len, "evaluation \"", set.name, "\": the profile text (profile = \"",
             config::name_of(set.profile), "\", ", out.source.string(), ") has ", size,
             " tokens, fewer than one window of seq_len = ", shape.seq_len);
  out.token_end = size;
  const std::string name = "novel/" + set.name;
  out.sample = analysis::sample_distribution(name, std::move(tokens), shape.seq_len, shape.samples,
                                             analysis::calibration_seed(e.experiment.seed, name),
                                             config::SampleMode::random_offsets);
  out.sample.source = out.source.string();
  return out;
}

}  // namespace moqa::pipeline
