#pragma once
// tokenizer.json "post_processor": adds the special tokens around an encoded sequence (BOS, CLS/SEP, ...)
// when encoding with add_special_tokens. Only single sequences are encoded; pair templates are ignored.
#include <cstdint>
#include <variant>
#include <vector>

#include "tokenizer/json_where.h"

namespace moqa::tokenizer {

struct TemplatePostProcessor {
  struct Piece {
    bool is_sequence = false;      // the encoded text ($A)
    std::vector<int32_t> special;  // otherwise: the ids of a special token entry
  };
  std::vector<Piece> single;
};
struct WrapPostProcessor {  // BertProcessing and RobertaProcessing: cls $A sep
  int32_t cls_id = 0;
  int32_t sep_id = 0;
};
struct ByteLevelPostProcessor {};  // only trims offsets in the reference: adds no tokens

using PostProcessorStep = std::variant<TemplatePostProcessor, WrapPostProcessor, ByteLevelPostProcessor>;

std::vector<PostProcessorStep> parse_post_processor(const Json& value, const JsonWhere& where);

std::vector<int32_t> post_process(const std::vector<PostProcessorStep>& steps, std::vector<int32_t> ids,
                                  bool add_special_tokens);

// The ids the single-sequence template puts before the text (for deriving a BOS token).
std::vector<int32_t> leading_special_ids(const std::vector<PostProcessorStep>& steps);

}  // namespace moqa::tokenizer
