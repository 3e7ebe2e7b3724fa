#include "dist/mpi_session.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <utility>

#include "core/error.h"

namespace moqa::dist {

void check_mpi(int code, std::string_view call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  fail(call, " failed: ", std::string_view(text, static_cast<size_t>(length)));
}

MpiSession::MpiSession(int& argc, char**& argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  int provided = MPI_THREAD_FUNNELED;
  if (!initialized) {
    check_mpi(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    owns_mpi_ = true;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  // After the rank is known, so that the message names the rank that reports it.
  if (provided < MPI_THREAD_FUNNELED) abort("the MPI library does not provide MPI_THREAD_FUNNELED");
  MPI_Comm node = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
            "MPI_Comm_split_type");
  const Communicator local(node);
  local_rank_ = local.rank();
  local_size_ = local.size();
}

MpiSession::~MpiSession() {
  if (!owns_mpi_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void MpiSession::abort(std::string_view reason) const {
  std::fprintf(stderr, "moqa: rank %d: %.*s\n", rank_, static_cast<int>(reason.size()), reason.data());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);  // MPI_Abort does not return; this keeps [[noreturn]] honest if it ever did
}

Communicator::~Communicator() {
  if (comm_ == MPI_COMM_NULL) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Comm_free(&comm_);
}

Communicator::Communicator(Communicator&& other) noexcept : comm_(std::exchange(other.comm_, MPI_COMM_NULL)) {}

Communicator& Communicator::operator=(Communicator&& other) noexcept {
  if (this != &other) {
    Communicator old(std::exchange(comm_, std::exchange(other.comm_, MPI_COMM_NULL)));
  }
  return *this;
}

int Communicator::rank() const {
  int rank = 0;
  check_mpi(MPI_Comm_rank(comm_, &rank), "MPI_Comm_rank");
  return rank;
}

int Communicator::size() const {
  int size = 0;
  check_mpi(MPI_Comm_size(comm_, &size), "MPI_Comm_size");
  return size;
}

std::string broadcast_string(MPI_Comm comm, const std::string& value, int root) {
  int rank = 0;
  check_mpi(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  uint64_t length = rank == root ? value.size() : 0;
  check_mpi(MPI_Bcast(&length, 1, MPI_UINT64_T, root, comm), "MPI_Bcast");
  std::string out = rank == root ? value : std::string(length, '\0');
  // MPI counts are int: send long strings in chunks.
  constexpr uint64_t chunk = std::numeric_limits<int>::max() / 2;
  for (uint64_t offset = 0; offset < length; offset += chunk) {
    const int count = static_cast<int>(std::min(chunk, length - offset));
    check_mpi(MPI_Bcast(out.data() + offset, count, MPI_CHAR, root, comm), "MPI_Bcast");
  }
  return out;
}

}  // namespace moqa::dist
