#pragma once
// The GPTQ goldens of ../shared/assets/goldens/gptq_reference (assets/README.md): each file holds a weight,
// the calibration inputs, the reference's own Hessian and the published implementation's dequantized result,
// with the settings in the safetensors metadata. Used by the CPU golden test (tests/quant) and the CUDA one
// (tests/backend); header-only so that both executables take it without a new library.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "io/safetensors.h"
#include "quant/format.h"
#include "quant/gptq.h"
#include "quant/hessian.h"
#include "support/test_support.h"

namespace moqa::test {

inline std::filesystem::path gptq_golden_dir() { return assets_dir() / "goldens" / "gptq_reference"; }

// Every *.safetensors of the golden folder, sorted by name; empty when the folder is absent.
inline std::vector<std::filesystem::path> gptq_golden_files() {
  std::vector<std::filesystem::path> files;
  if (!std::filesystem::is_directory(gptq_golden_dir())) return files;
  for (const auto& entry : std::filesystem::directory_iterator(gptq_golden_dir())) {
    if (entry.path().extension() == ".safetensors") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

struct GptqGolden {
  std::string name;  // file stem
  Tensor weight;     // [rows, cols]
  Tensor inputs;     // [n, cols]
  Tensor quantized;  // the reference's dequantized result
  quant::Hessian hessian;
  quant::QuantSpec spec;
  quant::GptqOptions options;  // variant: reference
  int64_t dead_columns = 0;
};

inline GptqGolden load_gptq_golden(const std::filesystem::path& path) {
  const io::SafetensorsFile file = io::SafetensorsFile::open(path);
  const auto& meta = file.metadata();
  const auto value = [&](const std::string& key) -> const std::string& {
    const auto it = meta.find(key);
    MOQA_CHECK(it != meta.end(), path.string(), ": metadata key \"", key, "\" is missing");
    return it->second;
  };
  const auto flag = [&](const std::string& key) {
    const std::string& v = value(key);
    MOQA_CHECK(v == "true" || v == "false", path.string(), ": metadata \"", key, "\" is \"", v,
               "\", expected true or false");
    return v == "true";
  };
  GptqGolden g;
  g.name = path.stem().string();
  g.weight = file.read("weight");
  g.inputs = file.read("inputs");
  g.quantized = file.read("quantized");
  const Tensor h = file.read("hessian");
  g.hessian.cols = h.dim(0);
  g.hessian.values.assign(h.data.begin(), h.data.end());
  // The goldens store float32 scales: the spec's default scale storage.
  g.spec.bits = std::stoi(value("bits"));
  g.spec.group_size = std::stoll(value("group_size"));
  g.spec.symmetric = flag("symmetric");
  g.options.damp_fraction = std::stod(value("damp_percent"));
  g.options.block_size = std::stoll(value("block_size"));
  g.options.act_order = flag("act_order");
  g.options.static_groups = flag("static_groups");
  g.options.variant = quant::GptqVariant::reference;
  g.dead_columns = std::stoll(value("dead_columns"));
  return g;
}

// ||(W - Q) X^T||^2 over the golden's inputs, in double.
inline double golden_output_error(const GptqGolden& g, const Tensor& q) {
  const int64_t rows = g.weight.dim(0), cols = g.weight.dim(1), n = g.inputs.dim(0);
  std::vector<double> d(static_cast<size_t>(cols));
  double total = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const auto at = static_cast<size_t>(r * cols + c);
      d[static_cast<size_t>(c)] = double(g.weight.data[at]) - double(q.data[at]);
    }
    for (int64_t i = 0; i < n; ++i) {
      const float* x = g.inputs.data.data() + i * cols;
      double y = 0.0;
      for (int64_t c = 0; c < cols; ++c) y += d[static_cast<size_t>(c)] * double(x[c]);
      total += y * y;
    }
  }
  return total;
}

struct GoldenAgreement {
  double equal_fraction = 0.0;     // dequantized values equal to the reference's within relative 1e-5
  double output_error = 0.0;       // ||(W - Q) X^T||^2 of the result
  double reference_error = 0.0;    // the same for the reference's Q
  double error_ratio() const { return output_error / reference_error; }
};

inline GoldenAgreement compare_to_golden(const GptqGolden& g, const Tensor& q) {
  GoldenAgreement a;
  int64_t equal = 0;
  for (size_t i = 0; i < q.data.size(); ++i) {
    const float got = q.data[i], want = g.quantized.data[i];
    equal += std::fabs(got - want) <= 1e-5f * std::max(std::fabs(got), std::fabs(want));
  }
  a.equal_fraction = static_cast<double>(equal) / static_cast<double>(q.data.size());
  a.output_error = golden_output_error(g, q);
  a.reference_error = golden_output_error(g, g.quantized);
  return a;
}

}  // namespace moqa::test
