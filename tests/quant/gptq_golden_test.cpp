// GPTQ against the published implementation's own outputs (../shared/assets/goldens/gptq_reference: nine
// cases run with IST-DASLab/gptq, assets/README.md). The reference variant must reproduce every case; the
// updated_groups variant is measured on the same cases for docs/QUANTIZATION.md.
#include <gtest/gtest.h>

#include <cstdio>

#include "quant/format.h"
#include "quant/gptq.h"
#include "support/gptq_golden.h"

namespace moqa::quant {
namespace {

using test::compare_to_golden;
using test::GoldenAgreement;
using test::GptqGolden;

TEST(QuantGptqGolden, ReferenceVariantReproducesEveryCase) {
  MOQA_REQUIRE_ASSET(test::gptq_golden_dir());
  const auto files = test::gptq_golden_files();
  ASSERT_FALSE(files.empty()) << "no *.safetensors in " << test::gptq_golden_dir();
  for (const auto& path : files) {
    const GptqGolden g = test::load_gptq_golden(path);
    SCOPED_TRACE(g.name);
    const GptqResult result = quantize_gptq(g.weight, g.hessian, g.spec, g.options, g.name);
    EXPECT_EQ(result.dead_columns, g.dead_columns);
    const GoldenAgreement a = compare_to_golden(g, dequantize(result.matrix));
    std::printf("[golden] %-36s reference:  equal %.4f %%, output error %.6g vs %.6g (%+.4f %%)\n", g.name.c_str(),
                100.0 * a.equal_fraction, a.output_error, a.reference_error, 100.0 * (a.error_ratio() - 1.0));
    EXPECT_GE(a.equal_fraction, 0.999);
    EXPECT_NEAR(a.error_ratio(), 1.0, 1e-3);
  }
}

TEST(QuantGptqGolden, UpdatedGroupsVariantMeasured) {
  MOQA_REQUIRE_ASSET(test::gptq_golden_dir());
  for (const auto& path : test::gptq_golden_files()) {
    GptqGolden g = test::load_gptq_golden(path);
    SCOPED_TRACE(g.name);
    g.options.variant = GptqVariant::updated_groups;
    const GoldenAgreement a =
        compare_to_golden(g, dequantize(quantize_gptq(g.weight, g.hessian, g.spec, g.options, g.name).matrix));
    std::printf("[golden] %-36s updated-groups: equal %.4f %%, output error %+.4f %% vs the reference\n",
                g.name.c_str(), 100.0 * a.equal_fraction, 100.0 * (a.error_ratio() - 1.0));
  }
}

}  // namespace
}  // namespace moqa::quant
