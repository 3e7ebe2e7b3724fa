// Zero-shot scoring data-parallel over examples with the expert-parallel all-to-all executor, under
// mpiexec -n 1..3: the task fixtures of tests/data/tasks (lm-eval templates) on the tiny golden models with
// byte tokens. Ranks hold different numbers of examples and batches (5 or 6 examples over 2 or 3 ranks),
// agree on the number of forward passes with one MPI_Allreduce, and each rank checks its log-likelihoods
// against the single-process evaluation of the whole task; the reduced counts must equal the
// single-process counts exactly.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>

#include "backend/cpu/cpu_backend.h"
#include "data/shard.h"
#include "data/tasks.h"
#include "dist/alltoall_executor.h"
#include "dist/shard_plan.h"
#include "eval/zero_shot.h"
#include "model/model.h"
#include "support/mpi_test_support.h"
#include "support/test_support.h"

namespace moqa::eval {
namespace {

using test::max_over_ranks;
using test::world_rank;
using test::world_size;

ZeroShotCounts sum_over_ranks(const ZeroShotCounts& local) {
  const int64_t in[] = {local.examples, local.correct, local.correct_norm, local.requests, local.input_tokens};
  int64_t out[5] = {};
  MPI_Allreduce(in, out, 5, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
  return {.examples = out[0], .correct = out[1], .correct_norm = out[2], .requests = out[3], .input_tokens = out[4]};
}

struct Case {
  std::string family;
  std::string file;
  data::TaskFormat format;
};

TEST(ZeroShotMpi, SplitOverRanksWithAlltoallExecutorMatchesSingleProcess) {
  backend::CpuBackend backend{backend::CpuOptions{.threads = 1}};
  const Tokenizer bytes = Tokenizer::bytes();
  const ZeroShotOptions options{.batch_sequences = 2};
  const int rank = world_rank(), world = world_size();
  for (const Case& c :
       {Case{"mixtral", "arc_challenge.jsonl", data::TaskFormat::arc_challenge},
        Case{"qwen2_moe", "copa.jsonl", data::TaskFormat::copa}, Case{"olmoe", "cb.jsonl", data::TaskFormat::cb}}) {
    SCOPED_TRACE(c.family + " " + c.file);
    const auto dir = test::data_dir() / "arch" / c.family;
    const data::ChoiceTask task = data::load_task(test::data_dir() / "tasks" / c.file, c.format);

    model::Model whole_model = model::Model::open(dir, backend);
    const ZeroShotResult reference = evaluate_zero_shot(whole_model, bytes, task, options);

    const dist::ShardPlan experts = dist::make_shard_plan(whole_model.config(), world);
    model::Model model = model::Model::open(dir, backend, {.owns_expert = dist::owned_by(experts, rank)});
    dist::AlltoallExpertExecutor executor(MPI_COMM_WORLD, experts);
    const data::ShardRange share = data::shard_range(static_cast<int64_t>(task.examples.size()), rank, world);
    const ZeroShotPlan plan = plan_zero_shot(bytes, task, share, options, model.config().max_position_embeddings);
    ZeroShotOptions agreed = options;
    agreed.min_batches = max_over_ranks(static_cast<int64_t>(plan.batches.size()));
    const std::vector<ExampleScore> scores = score_zero_shot(model, plan, agreed, {.experts = &executor});

    ASSERT_EQ(static_cast<int64_t>(scores.size()), share.size());
    for (const ExampleScore& s : scores) {
      const ExampleScore& want = reference.scores[static_cast<size_t>(s.example)];
      ASSERT_EQ(s.choices.size(), want.choices.size());
      for (size_t i = 0; i < s.choices.size(); ++i) {
        EXPECT_NEAR(s.choices[i].loglik, want.choices[i].loglik, 1e-5 * std::max(1.0, std::abs(want.choices[i].loglik)))
            << "rank " << rank << " example " << s.example << " choice " << i;
      }
    }
    const ZeroShotCounts total = sum_over_ranks(tally(scores));
    EXPECT_EQ(total.examples, reference.counts.examples);
    EXPECT_EQ(total.correct, reference.counts.correct);
    EXPECT_EQ(total.correct_norm, reference.counts.correct_norm);
    EXPECT_EQ(total.requests, reference.counts.requests);
    EXPECT_EQ(total.input_tokens, reference.counts.input_tokens);
  }
}

}  // namespace
}  // namespace moqa::eval
