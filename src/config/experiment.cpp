#include "config/experiment.h"

#include <algorithm>

namespace moqa::config {

bool QuantizationSection::keeps(WeightGroup group) const {
  return std::find(keep_full_precision.begin(), keep_full_precision.end(), group) != keep_full_precision.end();
}

bool Experiment::has_stage(Stage stage) const {
  return std::find(experiment.stages.begin(), experiment.stages.end(), stage) != experiment.stages.end();
}

}  // namespace moqa::config
