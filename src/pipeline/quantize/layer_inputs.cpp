#include "pipeline/quantize/layer_inputs.h"

#include <algorithm>
#include <limits>

#include "core/error.h"
#include "dist/mpi_datatype.h"
#include "dist/mpi_session.h"

namespace moqa::pipeline {

LayerInputCollector::LayerInputCollector(backend::Backend& backend, int64_t layer, const std::vector<int64_t>& experts,
                                         int64_t hidden, int64_t expert_width, std::vector<InputGroup> groups)
    : backend_(backend), layer_(layer), groups_(std::move(groups)) {
  const auto collects = [&](InputGroup g) { return std::find(groups_.begin(), groups_.end(), g) != groups_.end(); };
  for (const int64_t e : experts) {
    if (collects(InputGroup::expert_input)) expert_input_.emplace(e, quant::make_hessian_sum(hidden));
    if (collects(InputGroup::expert_down)) expert_down_.emplace(e, quant::make_hessian_sum(expert_width));
  }
}

void LayerInputCollector::on_linear_input(const model::LinearId& id, const backend::Array& input) {
  MOQA_CHECK(id.layer == layer_, "layer input collector for layer ", layer_, " called for ", model::to_string(id));
  if (id.is_routed_expert()) {
    // gate and up read the same rows: count them once.
    if (id.kind == model::Linear::expert_up) return;
    auto& sums = id.kind == model::Linear::expert_gate ? expert_input_ : expert_down_;
    const auto it = sums.find(id.expert);
    if (it != sums.end()) quant::accumulate(it->second, backend_.download(input));
    return;
  }
  const InputGroup group = input_group_of(id.kind);
  if (std::find(groups_.begin(), groups_.end(), group) == groups_.end()) return;
  Recorded& r = recorded_[group];
  if (r.storage != nullptr) {
    // The group's other linears read the very same array; anything else means the grouping is wrong.
    MOQA_CHECK(r.storage == input.storage.get(), "layer ", layer_, ": ", model::to_string(id),
               " reads another input than ", "the other linears of its group (", input_group_name(group), ")");
    return;
  }
  r.rows = backend_.download(input);
  r.storage = input.storage.get();
}

quant::HessianSum& LayerInputCollector::expert_hessian(int64_t expert, InputGroup which) {
  auto& sums = which == InputGroup::expert_input ? expert_input_ : expert_down_;
  const auto it = sums.find(expert);
  MOQA_CHECK(it != sums.end() && (which == InputGroup::expert_input || which == InputGroup::expert_down), "layer ",
             layer_, ": no ", input_group_name(which), " Hessian collected for expert ", expert);
  return it->second;
}

Tensor LayerInputCollector::take_rows(InputGroup group, int64_t cols) {
  const auto it = recorded_.find(group);
  if (it == recorded_.end()) return Tensor({0, cols});
  Tensor rows = std::move(it->second.rows);
  recorded_.erase(it);
  MOQA_CHECK(rows.rank() == 2 && rows.dim(1) == cols, "layer ", layer_, ": ", input_group_name(group),
             " rows of shape ", to_string(rows.shape), ", expected ", cols, " columns");
  return rows;
}

Tensor gather_rows(const Tensor& rows, int64_t cols, int root, MPI_Comm comm) {
  int rank = 0, size = 1;
  dist::check_mpi(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  dist::check_mpi(MPI_Comm_size(comm, &size), "MPI_Comm_size");
  const int64_t n = rows.rank() == 2 ? rows.dim(0) : 0;
  MOQA_CHECK(n == 0 || rows.dim(1) == cols, "gather_rows: rows of shape ", to_string(rows.shape), ", expected ", cols,
             " columns");
  MOQA_CHECK(n <= std::numeric_limits<int>::max(), "gather_rows: ", n, " rows exceed MPI's int count");
  const int count = static_cast<int>(n);
  std::vector<int> counts(static_cast<size_t>(size), 0), offsets(static_cast<size_t>(size), 0);
  dist::check_mpi(MPI_Gather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, root, comm), "MPI_Gather (row counts)");
  int64_t total = 0;
  if (rank == root) {
    for (int r = 0; r < size; ++r) {
      MOQA_CHECK(total <= std::numeric_limits<int>::max(), "gather_rows: more than INT_MAX rows in total");
      offsets[static_cast<size_t>(r)] = static_cast<int>(total);
      total += counts[static_cast<size_t>(r)];
    }
  }
  const dist::Datatype row = dist::Datatype::contiguous(cols, MPI_FLOAT);
  Tensor out({rank == root ? total : 0, cols});
  dist::check_mpi(MPI_Gatherv(n > 0 ? rows.ptr() : nullptr, count, row.get(), out.ptr(), counts.data(), offsets.data(),
                              row.get(), root, comm),
                  "MPI_Gatherv (layer input rows)");
  return out;
}

}  // namespace moqa::pipeline
