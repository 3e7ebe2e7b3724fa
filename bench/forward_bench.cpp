// CPU forward throughput (tokens/s) of a model: embeddings, every layer, final norm, lm_head and the
// next-token NLL of every position, i.e. the perplexity workload. Prints one table row per
// (threads, batch) on random token windows; with --corpus it evaluates perplexity on a text file instead.
//
//   build/bench/forward_bench                                   # ../shared/assets/trained/mixtral-tiny
//   build/bench/forward_bench --model DIR --threads 1,2 --batch 1,4,8 --seq-len 512
//   build/bench/forward_bench --synthetic --hidden 1024 --expert-ffn 3584 --layers 1
//   build/bench/forward_bench --model DIR --corpus ../shared/assets/trained/corpus_xz/wiki.test.txt.xz
#include <boost/program_options.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#include "data/corpus.h"
#include "eval/perplexity.h"
#include "model/forward.h"
#include "model/model.h"
#include "model/synthetic_weights.h"
#include "tokenizer/tokenizer.h"

namespace {

using namespace moqa;
namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;

std::vector<int64_t> parse_list(const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoll(item));
  MOQA_CHECK(!out.empty(), "empty list '", text, "'");
  return out;
}

model::Model open_model(const po::variables_map& args, backend::Backend& backend) {
  if (args.count("synthetic")) {
    model::MixtralShape shape;
    shape.layers = args["layers"].as<int64_t>();
    shape.hidden = args["hidden"].as<int64_t>();
    shape.expert_ffn = args["expert-ffn"].as<int64_t>();
    shape.heads = shape.hidden / 128;
    shape.kv_heads = std::max<int64_t>(1, shape.heads / 4);
    return model::Model(model::mixtral_config(shape), std::make_shared<model::SyntheticWeights>(1), backend);
  }
  return model::Model::open(args["model"].as<std::string>(), backend);
}

// Seconds for `repeat` full forwards of `batch` random windows of seq_len tokens, scoring every position.
double time_forward(model::Model& model, int64_t batch, int64_t seq_len, int64_t repeat) {
  const model::TokenBatch tokens = model::random_token_batch(batch, seq_len, model.config().vocab_size, 42);
  const model::NextTokenTargets scored = model::next_token_targets(tokens);
  auto run = [&] {
    model::HiddenStates h = model.embed(tokens);
    for (int64_t layer = 0; layer < model.config().num_layers; ++layer) model.forward_layer(layer, h);
    return model.token_nll(model.final_norm(h), scored.rows, scored.targets);
  };
  run();  // warm-up: rope tables, page faults, BLAS buffers
  const auto start = Clock::now();
  for (int64_t r = 0; r < repeat; ++r) run();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int run(int argc, char** argv) {
  const char* assets = std::getenv("MOQA_ASSETS");
  const std::string default_model = std::string(assets ? assets : "../shared/assets") + "/trained/mixtral-tiny";
  po::options_description options("forward_bench options");
  options.add_options()
      ("help,h", "show this help")
      ("model", po::value<std::string>()->default_value(default_model), "Hugging Face model directory")
      ("synthetic", "random-weight Mixtral-shaped model instead of --model")
      ("layers", po::value<int64_t>()->default_value(1), "synthetic: decoder layers")
      ("hidden", po::value<int64_t>()->default_value(1024), "synthetic: hidden size (heads = hidden/128)")
      ("expert-ffn", po::value<int64_t>()->default_value(3584), "synthetic: expert FFN width (8 experts, top-2)")
      ("threads", po::value<std::string>()->default_value("1,2"), "comma-separated CPU thread counts")
      ("batch", po::value<std::string>()->default_value("1,4,8"), "comma-separated windows per batch")
      ("seq-len", po::value<int64_t>()->default_value(512), "tokens per window")
      ("repeat", po::value<int64_t>()->default_value(3), "timed forwards per row")
      ("corpus", po::value<std::string>(), "evaluate perplexity on this text (.txt or .txt.xz) instead")
      ("max-tokens", po::value<int64_t>()->default_value(65536), "corpus: first N tokens (0 = all)");
  po::variables_map args;
  po::store(po::parse_command_line(argc, argv, options), args);
  po::notify(args);
  if (args.count("help")) {
    std::cout << options << "\n";
    return 0;
  }
  const std::vector<int64_t> threads = parse_list(args["threads"].as<std::string>());
  const std::vector<int64_t> batches = parse_list(args["batch"].as<std::string>());
  const int64_t seq_len = args["seq-len"].as<int64_t>();

  if (args.count("corpus")) {
    backend::CpuBackend backend({.threads = static_cast<int>(threads.front())});
    model::Model model = open_model(args, backend);
    const auto tokenize_start = Clock::now();
    const std::filesystem::path model_dir = args["model"].as<std::string>();
    const Tokenizer tokenizer = Tokenizer::load(model_dir / "tokenizer.json");
    const std::vector<int32_t> tokens = data::load_token_stream(
        tokenizer, {.path = args["corpus"].as<std::string>()}, {.max_tokens = args["max-tokens"].as<int64_t>()});
    const double tokenize_s = std::chrono::duration<double>(Clock::now() - tokenize_start).count();
    const eval::PerplexityOptions ppl{.seq_len = seq_len, .batch_windows = batches.front()};
    const eval::PerplexityResult result = eval::evaluate_perplexity(model, tokens, ppl, &std::cerr);
    std::printf("model %s\ncorpus %s: %zu tokens (tokenized in %.2f s)\nbackend %s, batch %lld\n%s, %.2f s\n",
                args["model"].as<std::string>().c_str(), args["corpus"].as<std::string>().c_str(), tokens.size(),
                tokenize_s, backend.describe().c_str(), static_cast<long long>(batches.front()),
                eval::describe(result, ppl).c_str(), result.seconds);
    return 0;
  }

  for (const int64_t t : threads) {
    backend::CpuBackend backend({.threads = static_cast<int>(t)});
    model::Model model = open_model(args, backend);
    if (t == threads.front()) {
      std::printf("# %s\n", args.count("synthetic") ? "synthetic weights" : args["model"].as<std::string>().c_str());
      std::istringstream summary(describe(model.config()));
      for (std::string line; std::getline(summary, line);) std::printf("# %s\n", line.c_str());
    }
    if (t == threads.front())
      std::printf("%-8s %-12s %10s %10s %12s\n", "threads", "batch x seq", "tokens", "seconds", "tokens/s");
    for (const int64_t b : batches) {
      const int64_t repeat = args["repeat"].as<int64_t>();
      const double seconds = time_forward(model, b, seq_len, repeat);
      const double tokens = static_cast<double>(b * seq_len * repeat);
      char shape[32];
      std::snprintf(shape, sizeof shape, "%lld x %lld", static_cast<long long>(b), static_cast<long long>(seq_len));
      std::printf("%-8lld %-12s %10.0f %10.3f %12.0f\n", static_cast<long long>(t), shape, tokens, seconds,
                  tokens / seconds);
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "forward_bench: " << e.what() << "\n";
    return 1;
  }
}
