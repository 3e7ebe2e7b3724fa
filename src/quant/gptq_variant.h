#pragma once
// Which GPTQ (quant/gptq.h explains both); its own header so that the experiment schema (src/config) can
// name it without depending on the quantizers.
#include <cstdint>

namespace moqa::quant {

enum class GptqVariant : uint8_t {
  reference,       // the published implementation (IST-DASLab/gptq), reproduced step by step
  updated_groups,  // moqa's earlier variant: dynamic groups fitted on fully updated weights
};

}  // namespace moqa::quant
