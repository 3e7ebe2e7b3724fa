#pragma once
// Internal to the config module: after every key has been read, fill in the defaults that depend on
// other keys (output_dir, tokenizer, format, stride, distribution) and check what involves several
// keys (unique names, target_bits against candidate_bits, stride <= seq_len, what each stage needs).
#include "config/experiment.h"
#include "config/read_context.h"

namespace moqa::config {

void resolve_and_validate(Experiment& experiment, ReadContext& context);

}  // namespace moqa::config
