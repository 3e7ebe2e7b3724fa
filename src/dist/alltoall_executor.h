#pragma once
// Expert-parallel execution of a MoE layer's routed experts: every rank routes its own tokens (data
// parallel), ships each (token, expert) row to the rank that owns the expert under a ShardPlan, the
// owner runs its experts on the rows of all ranks, and the outputs travel back to be combined where the
// tokens live.
//
// One call of run() is one exchange:
//   1. MPI_Alltoall of a small header per rank pair: rows for that peer, the sender's token count and
//      its layer (a rank at another layer is reported instead of exchanging garbage);
//   2. MPI_Alltoallv of the rows, each with its metadata (expert id, the sender's token index, combine
//      weight); a rank sends its rows grouped by owner rank, then by ascending expert, then by
//      ascending token;
//   3. the owner runs each of its experts, in ascending index order, on the rows of all ranks
//      concatenated in (source rank, token) order, and reports them to the observer first;
//   4. MPI_Alltoallv of the outputs back, in the order the rows arrived;
//   5. the source rank combines Σ_k w_k · out_k per token exactly as LocalExpertExecutor does (zeros,
//      then Backend::scatter_add_rows expert by expert in ascending index order).
// Hence on one rank the result equals LocalExpertExecutor's bit for bit, and on n ranks each expert
// sees the same row matrix as a single process running the concatenation of all ranks' batches, so the
// executor itself is exact on any rank count; only the replicated dense layers, run on fewer rows per
// rank, could differ by BLAS summation order. Measured on the golden checkpoints of all five families
// (tests/dist/alltoall_executor_test.cpp, OpenBLAS, 1-4 ranks): the whole forward equals the
// single-process forward bit for bit.
//
// Observer: ExpertInputEvent::tokens holds, for each row, its index in the concatenation of all ranks'
// executor inputs in rank order (source offset = Σ tokens of lower ranks, plus the sender's local
// token index). With windows split contiguously over ranks (data::shard_range), that is the token's
// row in the global batch; on one rank it is the local executor's token index. Each routed (token,
// expert) pair is reported exactly once in the whole job, on the expert's owner.
//
// Collective contract: every rank of the communicator must call run() for the same MoE layers in the
// same order, also with zero tokens (Model::forward_layer does this for a zero-window batch). Every
// failure (inconsistent routing, a rank at another layer, an expert not loaded, counts beyond MPI's
// int range, an MPI error) is a moqa::Error thrown on the rank that detects it, possibly while other
// ranks wait in a collective: a rank that catches it must abort the job (MpiSession::abort), never
// return to the forward pass.
//
// Limits: counts and displacements are MPI ints counted in rows (one row = one token's hidden vector),
// so per call each rank may send and receive at most INT_MAX rows (tokens × top_k of its batch, resp.
// the rows routed to its experts); beyond that run() throws. Host memory per call: hidden floats for
// 2 × tokens × top_k rows (the rows sent and their outputs) plus 2 × the rows received as owner, i.e.
// about 4 × tokens × top_k rows when the experts are balanced; the driver bounds it by the batch size.
#include <mpi.h>

#include <cstdint>
#include <functional>

#include "dist/mpi_session.h"
#include "dist/shard_plan.h"
#include "model/expert_executor.h"

namespace moqa::dist {

// ModelOptions::owns_expert for `rank`: true exactly for the (layer, expert) pairs `plan` gives it, so
// the Model loads only those experts.
std::function<bool(int64_t layer, int64_t expert)> owned_by(const ShardPlan& plan, int rank);

class AlltoallExpertExecutor final : public model::ExpertExecutor {
 public:
  // Collective over `comm`, which it duplicates (its messages never mix with the caller's). The plan
  // must be for comm's size; it must match the model's shape (checked on every run).
  AlltoallExpertExecutor(MPI_Comm comm, ShardPlan plan);

  backend::Array run(model::Model& model, int64_t layer, const backend::Array& x, const backend::Routing& routing,
                     model::ForwardObserver* observer) override;

  const ShardPlan& plan() const { return plan_; }
  int rank() const { return rank_; }

 private:
  Communicator comm_;
  ShardPlan plan_;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace moqa::dist
