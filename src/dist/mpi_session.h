#pragma once
// MPI for the whole process: initialisation and finalisation (RAII), the rank's place in the job, an
// abort that never leaves the other ranks hanging, and the few collectives on plain strings the driver
// needs before any model code runs.
#include <mpi.h>

#include <string>
#include <string_view>

namespace moqa::dist {

class MpiSession {
 public:
  // Initialises MPI (MPI_THREAD_FUNNELED: only the main thread calls MPI) unless it already is, in
  // which case this session neither initialises nor finalises (tests with their own MPI main).
  MpiSession(int& argc, char**& argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }  // rank among the ranks of this node
  int local_size() const { return local_size_; }
  bool is_root() const { return rank_ == 0; }
  MPI_Comm world() const { return MPI_COMM_WORLD; }

  // Prints "moqa: rank R: <reason>" to stderr and aborts the whole job (MPI_Abort with exit code 1),
  // so that a rank failing alone does not leave the others blocked in a collective.
  [[noreturn]] void abort(std::string_view reason) const;

 private:
  bool owns_mpi_ = false;
  int rank_ = 0;
  int size_ = 1;
  int local_rank_ = 0;
  int local_size_ = 1;
};

// Owns a communicator created by MPI_Comm_split / _dup / _split_type and frees it on destruction.
class Communicator {
 public:
  Communicator() = default;
  explicit Communicator(MPI_Comm comm) : comm_(comm) {}
  ~Communicator();
  Communicator(Communicator&& other) noexcept;
  Communicator& operator=(Communicator&& other) noexcept;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  MPI_Comm get() const { return comm_; }
  int rank() const;
  int size() const;

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
};

// Root's `value` on every rank of `comm` (the other ranks' argument is ignored).
std::string broadcast_string(MPI_Comm comm, const std::string& value, int root = 0);

// Throws moqa::Error naming the MPI call when `code` is not MPI_SUCCESS.
void check_mpi(int code, std::string_view call);

}  // namespace moqa::dist
