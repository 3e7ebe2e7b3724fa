#include "dist/alltoall_executor.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "core/error.h"
#include "dist/mpi_datatype.h"
#include "model/model.h"
#include "model/observer.h"

namespace moqa::dist {
namespace {

using backend::Array;

// What a rank tells each peer before any row moves.
struct Header {
  int64_t rows = 0;    // rows the sender ships to this peer
  int64_t tokens = 0;  // the sender's token count (gives each rank's offset in the global token order)
  int64_t layer = 0;   // the sender's layer: a rank out of step is reported, not silently mixed in
};
constexpr int kHeaderValues = 3;

// One row of the dispatch message: the token's hidden vector, then its metadata.
struct RecordLayout {
  int64_t hidden = 0;
  size_t floats_bytes() const { return static_cast<size_t>(hidden) * sizeof(float); }
  size_t bytes() const { return floats_bytes() + sizeof(int32_t) + sizeof(int32_t) + sizeof(float); }
};

struct RecordMeta {
  int32_t expert = 0;
  int32_t token = 0;  // index in the sender's executor input
  float weight = 0.0f;
};

void write_record(std::byte* record, const RecordLayout& layout, const float* row, const RecordMeta& meta) {
  std::memcpy(record, row, layout.floats_bytes());
  std::byte* tail = record + layout.floats_bytes();
  std::memcpy(tail, &meta.expert, sizeof(int32_t));
  std::memcpy(tail + sizeof(int32_t), &meta.token, sizeof(int32_t));
  std::memcpy(tail + 2 * sizeof(int32_t), &meta.weight, sizeof(float));
}

RecordMeta read_meta(const std::byte* record, const RecordLayout& layout) {
  RecordMeta meta;
  const std::byte* tail = record + layout.floats_bytes();
  std::memcpy(&meta.expert, tail, sizeof(int32_t));
  std::memcpy(&meta.token, tail + sizeof(int32_t), sizeof(int32_t));
  std::memcpy(&meta.weight, tail + 2 * sizeof(int32_t), sizeof(float));
  return meta;
}

// Per-peer row counts and their displacements as the ints MPI wants, refusing totals beyond INT_MAX.
struct PeerCounts {
  std::vector<int> counts, displs;
  int64_t total = 0;
};

PeerCounts peer_counts(const std::vector<int64_t>& rows, const char* direction, int64_t layer) {
  PeerCounts out;
  for (const int64_t n : rows) {
    MOQA_CHECK(n >= 0 && n <= std::numeric_limits<int>::max() - out.total, "expert dispatch at layer ", layer, ": ",
               direction, " more than ", std::numeric_limits<int>::max(),
               " token rows in one exchange (MPI counts are ints); use fewer windows per batch");
    out.displs.push_back(static_cast<int>(out.total));
    out.counts.push_back(static_cast<int>(n));
    out.total += n;
  }
  return out;
}

// Never hand MPI a null buffer, even for an exchange of zero rows.
template <class T>
std::vector<T> buffer(int64_t count) {
  return std::vector<T>(static_cast<size_t>(std::max<int64_t>(count, 1)));
}

}  // namespace

std::function<bool(int64_t, int64_t)> owned_by(const ShardPlan& plan, int rank) {
  auto shared = std::make_shared<const ShardPlan>(plan);
  return [shared, rank](int64_t layer, int64_t expert) { return shared->owner(layer, expert) == rank; };
}

AlltoallExpertExecutor::AlltoallExpertExecutor(MPI_Comm comm, ShardPlan plan) : plan_(std::move(plan)) {
  MPI_Comm own = MPI_COMM_NULL;
  check_mpi(MPI_Comm_dup(comm, &own), "MPI_Comm_dup");
  comm_ = Communicator(own);
  // Errors on this communicator become moqa::Error (the caller aborts) instead of killing the job
  // without a message.
  check_mpi(MPI_Comm_set_errhandler(own, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  rank_ = comm_.rank();
  size_ = comm_.size();
  MOQA_CHECK(plan_.world_size == size_, "expert dispatch: shard plan for ", plan_.world_size,
             " ranks used on a communicator of ", size_, " ranks");
}

Array AlltoallExpertExecutor::run(model::Model& model, int64_t layer, const Array& x, const backend::Routing& routing,
                                  model::ForwardObserver* observer) {
  backend::Backend& backend = model.backend();
  const ModelConfig& config = model.config();
  const int64_t hidden = config.hidden_size, num_experts = config.num_experts, tokens = routing.tokens;
  MOQA_CHECK(plan_.num_layers == config.num_layers && plan_.num_experts == num_experts,
             "expert dispatch: shard plan for ", plan_.num_layers, " layers x ", plan_.num_experts,
             " experts, but the model has ", config.num_layers, " layers x ", num_experts, " experts");
  MOQA_CHECK(layer >= 0 && layer < plan_.num_layers && plan_.layer_is_moe[static_cast<size_t>(layer)],
             "expert dispatch: layer ", layer, " is not a MoE layer of the shard plan");
  MOQA_CHECK(tokens >= 0 && (tokens == 0 ? x.empty() || x.rows() == 0 : x.rows() == tokens && x.cols() == hidden),
             "expert dispatch at layer ", layer, ": routing of ", tokens, " tokens for input of shape ",
             to_string(x.shape), " (hidden size ", hidden, ")");
  MOQA_CHECK(tokens <= std::numeric_limits<int32_t>::max(), "expert dispatch at layer ", layer, ": ", tokens,
             " tokens exceed the int32 token index");
  const std::vector<backend::ExpertTokens> groups = backend::group_by_expert(routing, num_experts);
  const auto group_rows = [&](int64_t e) { return static_cast<int64_t>(groups[static_cast<size_t>(e)].tokens.size()); };

  // Outgoing layout: by owner rank, then ascending expert, then ascending token. expert_start[e] is
  // where expert e's rows begin, in the rows sent and in the outputs that come back alike.
  std::vector<int64_t> rows_to(static_cast<size_t>(size_), 0);
  for (int64_t e = 0; e < num_experts; ++e) rows_to[static_cast<size_t>(plan_.owner(layer, e))] += group_rows(e);
  const PeerCounts sent = peer_counts(rows_to, "sending", layer);
  std::vector<int64_t> expert_start(static_cast<size_t>(num_experts), 0);
  {
    std::vector<int64_t> cursor(sent.displs.begin(), sent.displs.end());
    for (int64_t e = 0; e < num_experts; ++e) {
      int64_t& next = cursor[static_cast<size_t>(plan_.owner(layer, e))];
      expert_start[static_cast<size_t>(e)] = next;
      next += group_rows(e);
    }
  }

  // 1. Headers.
  std::vector<int64_t> header_out, header_in(static_cast<size_t>(size_) * kHeaderValues);
  for (int peer = 0; peer < size_; ++peer) {
    const Header h{rows_to[static_cast<size_t>(peer)], tokens, layer};
    header_out.insert(header_out.end(), {h.rows, h.tokens, h.layer});
  }
  check_mpi(MPI_Alltoall(header_out.data(), kHeaderValues, MPI_INT64_T, header_in.data(), kHeaderValues, MPI_INT64_T,
                         comm_.get()),
            "MPI_Alltoall (expert dispatch counts)");
  std::vector<int64_t> rows_from(static_cast<size_t>(size_)), token_offset(static_cast<size_t>(size_));
  std::vector<int64_t> tokens_of(static_cast<size_t>(size_));
  int64_t all_tokens = 0;
  for (int peer = 0; peer < size_; ++peer) {
    const int64_t* h = header_in.data() + static_cast<size_t>(peer) * kHeaderValues;
    MOQA_CHECK(h[2] == layer, "expert dispatch: rank ", peer, " is exchanging layer ", h[2], " while rank ", rank_,
               " is at layer ", layer, " (every rank must run the same MoE layers in the same order)");
    rows_from[static_cast<size_t>(peer)] = h[0];
    tokens_of[static_cast<size_t>(peer)] = h[1];
    token_offset[static_cast<size_t>(peer)] = all_tokens;
    all_tokens += h[1];
  }
  MOQA_CHECK(all_tokens <= std::numeric_limits<int32_t>::max(), "expert dispatch at layer ", layer, ": ", all_tokens,
             " tokens over all ranks exceed the int32 token index of observer events");
  const PeerCounts received = peer_counts(rows_from, "receiving", layer);

  // 2. Rows with their metadata.
  const RecordLayout layout{hidden};
  const Datatype record_type = Datatype::contiguous(static_cast<int64_t>(layout.bytes()), MPI_BYTE);
  std::vector<std::byte> send_records = buffer<std::byte>(sent.total * static_cast<int64_t>(layout.bytes()));
  if (tokens > 0) {
    const Tensor host_x = backend.download(x);
    for (int64_t e = 0; e < num_experts; ++e) {
      const backend::ExpertTokens& group = groups[static_cast<size_t>(e)];
      for (size_t i = 0; i < group.tokens.size(); ++i) {
        const size_t slot = static_cast<size_t>(expert_start[static_cast<size_t>(e)]) + i;
        write_record(send_records.data() + slot * layout.bytes(), layout, host_x.row(group.tokens[i]).data(),
                     {static_cast<int32_t>(e), group.tokens[i], group.weights[i]});
      }
    }
  }
  std::vector<std::byte> recv_records = buffer<std::byte>(received.total * static_cast<int64_t>(layout.bytes()));
  check_mpi(
      MPI_Alltoallv(send_records.data(), sent.counts.data(), sent.displs.data(), record_type.get(), recv_records.data(),
                    received.counts.data(), received.displs.data(), record_type.get(), comm_.get()),
      "MPI_Alltoallv (expert dispatch rows)");
  send_records = std::vector<std::byte>();  // release before the experts run

  // 3. Owned experts on the rows of all ranks: arrivals[e] lists expert e's received rows in (source
  // rank, token) order, which each sender's (expert, token) ordering makes a simple scan.
  struct Arrival {
    int64_t position = 0;      // row in the received message
    int32_t global_token = 0;  // token offset of the source rank + the source's token index
  };
  std::vector<std::vector<Arrival>> arrivals(static_cast<size_t>(num_experts));
  for (int peer = 0; peer < size_; ++peer) {
    RecordMeta previous{-1, -1, 0.0f};
    const int64_t first = received.displs[static_cast<size_t>(peer)];
    for (int64_t p = first; p < first + rows_from[static_cast<size_t>(peer)]; ++p) {
      const RecordMeta meta = read_meta(recv_records.data() + static_cast<size_t>(p) * layout.bytes(), layout);
      MOQA_CHECK(meta.expert >= 0 && meta.expert < num_experts && plan_.owner(layer, meta.expert) == rank_ &&
                     meta.token >= 0 && meta.token < tokens_of[static_cast<size_t>(peer)] &&
                     (meta.expert > previous.expert || (meta.expert == previous.expert && meta.token > previous.token)),
                 "expert dispatch at layer ", layer, ": rank ", rank_, " received from rank ", peer,
                 " a row for expert ", meta.expert, ", token ", meta.token, " (after expert ", previous.expert,
                 ", token ", previous.token,
                 "), which is not a row this rank owns in order: do all ranks use the same shard plan?");
      arrivals[static_cast<size_t>(meta.expert)].push_back(
          {p, static_cast<int32_t>(token_offset[static_cast<size_t>(peer)] + meta.token)});
      previous = meta;
    }
  }
  // Every owned expert's rows as one Model::run_experts batch (the backend may run them concurrently).
  std::vector<model::ExpertRows> batch;
  std::vector<std::vector<int32_t>> batch_tokens;
  std::vector<std::vector<float>> batch_weights;
  batch_tokens.reserve(static_cast<size_t>(num_experts));  // the batch's spans point into these
  batch_weights.reserve(static_cast<size_t>(num_experts));
  for (int64_t e = 0; e < num_experts; ++e) {
    const std::vector<Arrival>& rows_at = arrivals[static_cast<size_t>(e)];
    if (rows_at.empty()) continue;
    Tensor rows({static_cast<int64_t>(rows_at.size()), hidden});
    std::vector<int32_t>& global_tokens = batch_tokens.emplace_back(rows_at.size());
    std::vector<float>& weights = batch_weights.emplace_back(rows_at.size());
    for (size_t i = 0; i < rows_at.size(); ++i) {
      const std::byte* record = recv_records.data() + static_cast<size_t>(rows_at[i].position) * layout.bytes();
      std::memcpy(rows.row(static_cast<int64_t>(i)).data(), record, layout.floats_bytes());
      global_tokens[i] = rows_at[i].global_token;
      weights[i] = read_meta(record, layout).weight;
    }
    batch.push_back({.expert = e, .rows = backend.upload(rows), .tokens = global_tokens, .weights = weights});
  }
  std::vector<float> outputs = buffer<float>(received.total * hidden);
  const std::vector<Array> expert_outputs = model.run_experts(layer, batch, observer);
  for (size_t b = 0; b < batch.size(); ++b) {
    const std::vector<Arrival>& rows_at = arrivals[static_cast<size_t>(batch[b].expert)];
    const int64_t n = static_cast<int64_t>(rows_at.size());
    const Tensor out = backend.download(expert_outputs[b]);
    MOQA_CHECK(out.size() == n * hidden, "expert dispatch at layer ", layer, ": expert ", batch[b].expert,
               " returned shape ", to_string(out.shape), " for ", n, " rows of width ", hidden);
    for (size_t i = 0; i < rows_at.size(); ++i) {
      std::copy_n(out.row(static_cast<int64_t>(i)).data(), hidden,
                  outputs.data() + static_cast<size_t>(rows_at[i].position) * static_cast<size_t>(hidden));
    }
  }
  recv_records = std::vector<std::byte>();

  // 4. Outputs back, in the order the rows came.
  const Datatype row_type = Datatype::contiguous(hidden, MPI_FLOAT);
  std::vector<float> returned = buffer<float>(sent.total * hidden);
  check_mpi(MPI_Alltoallv(outputs.data(), received.counts.data(), received.displs.data(), row_type.get(),
                          returned.data(), sent.counts.data(), sent.displs.data(), row_type.get(), comm_.get()),
            "MPI_Alltoallv (expert outputs)");

  // 5. Combine exactly like LocalExpertExecutor: expert by expert in ascending order.
  Array combined = backend.zeros({tokens, hidden});
  for (int64_t e = 0; e < num_experts; ++e) {
    const backend::ExpertTokens& group = groups[static_cast<size_t>(e)];
    if (group.tokens.empty()) continue;
    const auto first = returned.begin() + expert_start[static_cast<size_t>(e)] * hidden;
    const Array expert_out =
        backend.upload(Tensor({group_rows(e), hidden}, std::vector<float>(first, first + group_rows(e) * hidden)));
    backend.scatter_add_rows(combined, expert_out, group.tokens, group.weights);
  }
  return combined;
}

}  // namespace moqa::dist
