#pragma once
// Internal to the config module: TOML document -> Experiment, key by key, reporting every wrong type,
// out-of-range value, missing file and unknown key to the context. Cross-key checks and derived
// defaults come afterwards (validate.h).
#include <toml++/toml.h>

#include <vector>

#include "config/experiment.h"
#include "config/read_context.h"

namespace moqa::config {

void read_document(const toml::table& doc, Experiment& out, ReadContext& context);

// The [sweep] table, flattened to dotted keys in the order they appear in the file.
std::vector<SweepAxis> read_sweep(const toml::table& doc, ReadContext& context);

}  // namespace moqa::config
