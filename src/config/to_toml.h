#pragma once
// The fully resolved experiment as TOML: every key with its effective value (defaults filled in,
// paths absolute). Printed by --dry-run and stored as provenance in results.h5; parsing it back gives
// the same Experiment.
#include <string>

#include "config/experiment.h"

namespace moqa::config {

std::string to_toml(const Experiment& experiment);

}  // namespace moqa::config
