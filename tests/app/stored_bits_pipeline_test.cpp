// Equal stored bits across allocation methods, end to end on the trained mixtral-tiny: calibrate + allocate
// under mpiexec -n 2, one run per method at allocation.match_uniform_bits = 3 with group-128 f16 scales.
// Every method must store the uniform 3-bit model's bits (3 + 768 x 24 / 98304 = 3.1875 per expert
// weight) within 0.01, without and with a channel cache; the results.json figures are what is checked.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace moqa::pipeline {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using test::mpiexec;
using test::shell_quoted;
using test::toml_path;


json read_json(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return json::parse(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
}

// One calibrate + allocate run; returns results.json's "allocation".
json allocate_run(const fs::path& dir, const std::string& method, const std::string& scope, bool cache) {
  const fs::path trained = test::assets_dir() / "trained";
  const fs::path c = trained / "corpus_xz";
  std::ostringstream toml;
  toml << "[experiment]\nname = \"stored-bits\"\nseed = 0\nstages = [\"calibrate\", \"allocate\"]\noutput_dir = "
       << toml_path(dir / method) << "\n\n[model]\npath = " << toml_path(trained / "mixtral-tiny") << "\n\n";
  for (const char* d : {"wiki", "shakespeare"})
    toml << "[[calibration]]\nname = \"" << d << "\"\npath = " << toml_path(c / (std::string(d) + ".train.txt.xz"))
         << "\nsamples = 4\nseq_len = 128\nmax_tokens = 50000\n\n";
  toml << "[allocation]\nmethod = \"" << method << "\"\nmatch_uniform_bits = 3\ncandidate_bits = [2, 4, 6, 8]\n"
       << "scope = \"" << scope << "\"\n\n[quantization]\nmethod = \"rtn\"\ngroup_size = 128\nchannel_adjustment = "
       << (cache ? "true" : "false") << "\n\n[runtime]\ndevice = \"cpu\"\n";
  fs::create_directories(dir);
  std::ofstream(dir / (method + ".toml")) << toml.str();
  const test::CommandResult run = test::run_command("timeout 300 " + mpiexec(2) + " " +
                                                    shell_quoted(test::pipeline_exe()) + " " +
                                                    shell_quoted(dir / (method + ".toml")));
  EXPECT_EQ(run.exit_code, 0) << run.output;
  return read_json(dir / method / "results.json")["allocation"];
}

TEST(StoredBitsPipeline, EveryMethodStoresTheUniformBudgetOnMixtralTiny) {
  MOQA_REQUIRE_ASSET(test::assets_dir() / "trained" / "mixtral-tiny" / "config.json");
  for (const bool cache : {false, true}) {
    // With the cache the code budget is not a whole number of 2-bit steps per layer: global scope.
    const std::string scope = cache ? "global" : "layer";
    const fs::path dir = test::temp_dir(cache ? "stored-bits-cache" : "stored-bits");
    for (const char* method : {"uniform", "moqa", "moqa-v1", "moeptq", "frequency"}) {
      if (cache && std::string(method) == "uniform") continue;  // one width: cannot give up bits for a cache
      SCOPED_TRACE(std::string(method) + (cache ? " + cache" : ""));
      const json a = allocate_run(dir, method, scope, cache);
      ASSERT_TRUE(a.is_object());
      EXPECT_NEAR(a["target_bits"].get<double>(), 3.1875, 1e-9);
      const double stored = a["stored_bits_experts_with_overhead"].get<double>();
      std::printf("[ measured ] %-9s %s: stored %.4f bits per expert weight (codes%s %.4f)\n", method,
                  cache ? "+cache" : "      ", stored, cache ? "+cache" : "", a["bits_experts"].get<double>());
      EXPECT_LE(stored, 3.1875 + 1e-9);
      EXPECT_NEAR(stored, 3.1875, 0.01);
    }
  }
}

}  // namespace
}  // namespace moqa::pipeline
