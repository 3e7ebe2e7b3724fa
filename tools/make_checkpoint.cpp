// moqa-make-checkpoint: writes a random-weight checkpoint with the exact config.json and tensor names of a
// published MoE model (see src/model/random_checkpoint.h), for scale tests and benchmarks.
//
//   moqa-make-checkpoint --model olmoe-1b-7b --layers 2 --output /work/scale/olmoe-2l
//   moqa-make-checkpoint --list
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>

#include "core/error.h"
#include "model/random_checkpoint.h"

namespace po = boost::program_options;

int main(int argc, char** argv) {
  try {
    std::string model, output, tokenizers;
    int64_t layers = 0, shard_mib = 2048;
    uint64_t seed = 0;
    po::options_description options("moqa-make-checkpoint options");
    options.add_options()("help,h", "this text")("list", "list the model shapes and exit")(
        "model", po::value(&model), "shape to write: olmoe-1b-7b, qwen1.5-moe-a2.7b, deepseek-v2-lite, mixtral-8x7b, deepseek-v3")(
        "layers", po::value(&layers)->default_value(0), "decoder layers to keep (0: all of the published model's)")(
        "shard-mib", po::value(&shard_mib)->default_value(2048), "shard size limit in MiB")(
        "seed", po::value(&seed)->default_value(0), "seed of the random weights")(
        "output", po::value(&output), "output directory (must not exist or be empty)")(
        "tokenizers", po::value(&tokenizers)->default_value("../shared/assets/tokenizers"),
        "folder with llama2/, qwen3/, deepseek_v3/ tokenizer folders; the model picks the one whose ids fit")(
        "no-tokenizer", "write no tokenizer.json")("print-config", "print the config.json that would be written and exit");
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, options), vm);
    po::notify(vm);
    if (vm.count("help") || argc == 1) {
      std::cout << options << "\n";
      return 0;
    }
    if (vm.count("list")) {
      for (const auto& info : moqa::model::real_models())
        std::cout << info.name << "\t" << info.hub_id << "\ttokenizer " << info.tokenizer << "\n";
      return 0;
    }
    MOQA_CHECK(!model.empty(), "--model is required (see --list)");
    moqa::model::RandomCheckpointOptions o;
    o.model = moqa::model::parse_real_model(model);
    o.layers = layers;
    if (vm.count("print-config")) {
      std::cout << moqa::model::generated_config_json(o.model, layers);
      return 0;
    }
    MOQA_CHECK(!output.empty(), "--output is required");
    MOQA_CHECK(shard_mib > 0, "--shard-mib must be positive, got ", shard_mib);
    o.shard_bytes = static_cast<uint64_t>(shard_mib) << 20;
    o.seed = seed;
    o.output_dir = output;
    if (!vm.count("no-tokenizer"))
      o.tokenizer_dir = std::filesystem::path(tokenizers) / std::string(moqa::model::real_model_info(o.model).tokenizer);
    const auto s = moqa::model::write_random_checkpoint(o);
    std::printf("%s: %lld tensors, %.3f B parameters, %.2f GiB BF16 in %lld shards\n", output.c_str(),
                static_cast<long long>(s.tensors), static_cast<double>(s.parameters) / 1e9,
                static_cast<double>(s.bytes) / (1ull << 30), static_cast<long long>(s.shards));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "moqa-make-checkpoint: %s\n", e.what());
    return 1;
  }
}
