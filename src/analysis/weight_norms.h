#pragma once
// Weight factors of the saliency measures. ‖W_j[:, c]‖: the Euclidean norm of input column c of routed expert j's gate and up projections stacked
// ([2·F, C]), the weight factor of the saliency channel significance (significance.h). Computed by the
// rank that owns the expert; the ranks' contributions are summed (every other rank contributes 0).
#include <cstdint>
#include <vector>

#include "dist/shard_plan.h"
#include "model/model.h"

namespace moqa::analysis {

// [C] for one expert, which the model must have loaded.
std::vector<double> gate_up_column_norms(model::Model& model, int64_t layer, int64_t expert);

// ‖down_j[:, k]‖ [F] for one expert: the norm of intermediate channel k's column of the down projection
// ([C, F]), the weight factor of output_saliency (significance.h).
std::vector<double> down_column_norms(model::Model& model, int64_t layer, int64_t expert);

// [E*C] (gate/up) or [E*F] (down) for one MoE layer: the rows of the experts `plan` gives to `rank`, zeros
// elsewhere.
std::vector<double> owned_column_norms(model::Model& model, int64_t layer, const dist::ShardPlan& plan, int rank);
std::vector<double> owned_down_column_norms(model::Model& model, int64_t layer, const dist::ShardPlan& plan,
                                            int rank);

}  // namespace moqa::analysis
