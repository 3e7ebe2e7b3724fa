#include "model/expert_executor.h"

#include "core/error.h"
#include "model/model.h"
#include "model/observer.h"

namespace moqa::model {

backend::Array LocalExpertExecutor::run(Model& model, int64_t layer, const backend::Array& x,
                                        const backend::Routing& routing, ForwardObserver* observer) {
  backend::Backend& backend = model.backend();
  MOQA_CHECK(routing.tokens == x.rows(), "local expert executor: routing of ", routing.tokens, " tokens for ", x.rows(),
             " input rows");
  const auto groups = backend::group_by_expert(routing, model.config().num_experts);
  std::vector<ExpertRows> batch;
  for (int64_t expert = 0; expert < static_cast<int64_t>(groups.size()); ++expert) {
    const backend::ExpertTokens& group = groups[static_cast<size_t>(expert)];
    if (group.tokens.empty()) continue;
    MOQA_CHECK(model.owns_expert(layer, expert), "local expert executor: layer ", layer, " routes ",
               group.tokens.size(), " tokens to expert ", expert,
               ", which this process does not own (use the distributed executor)");
    batch.push_back({.expert = expert,
                     .rows = backend.gather_rows(x, group.tokens),
                     .tokens = group.tokens,
                     .weights = group.weights});
  }
  const std::vector<backend::Array> outputs = model.run_experts(layer, batch, observer);
  backend::Array out = backend.zeros({x.rows(), x.cols()});
  for (size_t i = 0; i < batch.size(); ++i)
    backend.scatter_add_rows(out, outputs[i], batch[i].tokens, batch[i].weights);
  return out;
}

}  // namespace moqa::model
