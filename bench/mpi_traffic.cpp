// libmoqa_mpi_traffic.so: an MPI profiling (PMPI) layer for benchmarks. Preloaded into moqa-pipeline
//   mpirun -np 2 -x LD_PRELOAD=build/bench/libmoqa_mpi_traffic.so -x MOQA_TRAFFIC_OUT=/tmp/traffic ...
// it counts the bytes each rank hands to MPI's collectives and samples the process's RssAnon every 10 ms,
// both in 0.1-second buckets since MPI_Init, and writes them at MPI_Finalize to MOQA_TRAFFIC_OUT.rank<r>.tsv:
//   tenth_second  alltoall_bytes  reduction_bytes  other_bytes  peak_rss_anon_bytes
// Bytes are the payload a rank contributes (all-to-all: the rows it sends to other ranks; reductions and
// gathers: its send buffer; broadcast: the root's buffer once per receiver), not what a particular MPI
// algorithm puts on the wire (a ring all-reduce moves about 2 (R-1)/R times the payload per rank).
// Nothing in moqa links this library.
#include <mpi.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Bucket {
  unsigned long long alltoall = 0, reduction = 0, other = 0, peak_rss_anon = 0;
};

struct Traffic {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::mutex mutex;
  std::vector<Bucket> buckets;
  std::atomic<bool> running{false};
  std::thread sampler;

  Bucket& now() {  // caller holds mutex
    const auto s = static_cast<size_t>(
        10.0 * std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (buckets.size() <= s) buckets.resize(s + 1);
    return buckets[s];
  }
};

Traffic& traffic() {
  static Traffic t;
  return t;
}

unsigned long long type_bytes(MPI_Datatype type) {
  int size = 0;
  PMPI_Type_size(type, &size);
  return static_cast<unsigned long long>(size);
}

int comm_size(MPI_Comm comm) {
  int size = 1;
  PMPI_Comm_size(comm, &size);
  return size;
}

int comm_rank(MPI_Comm comm) {
  int rank = 0;
  PMPI_Comm_rank(comm, &rank);
  return rank;
}

enum class Kind { alltoall, reduction, other };

void add(Kind kind, unsigned long long bytes) {
  Traffic& t = traffic();
  std::lock_guard<std::mutex> lock(t.mutex);
  Bucket& b = t.now();
  (kind == Kind::alltoall ? b.alltoall : kind == Kind::reduction ? b.reduction : b.other) += bytes;
}

unsigned long long rss_anon() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("RssAnon:", 0) == 0) return std::strtoull(line.c_str() + 8, nullptr, 10) * 1024;
  return 0;
}

void start_sampler() {
  Traffic& t = traffic();
  t.running = true;
  t.sampler = std::thread([&t] {
    while (t.running) {
      const unsigned long long rss = rss_anon();
      {
        std::lock_guard<std::mutex> lock(t.mutex);
        Bucket& b = t.now();
        if (rss > b.peak_rss_anon) b.peak_rss_anon = rss;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
}

}  // namespace

extern "C" {

int MPI_Init(int* argc, char*** argv) {
  const int rc = PMPI_Init(argc, argv);
  start_sampler();
  return rc;
}

int MPI_Init_thread(int* argc, char*** argv, int required, int* provided) {
  const int rc = PMPI_Init_thread(argc, argv, required, provided);
  start_sampler();
  return rc;
}

int MPI_Finalize() {
  Traffic& t = traffic();
  const int rank = comm_rank(MPI_COMM_WORLD);
  t.running = false;
  if (t.sampler.joinable()) t.sampler.join();
  if (const char* out = std::getenv("MOQA_TRAFFIC_OUT")) {
    const std::string path = std::string(out) + ".rank" + std::to_string(rank) + ".tsv";
    if (FILE* f = std::fopen(path.c_str(), "w")) {
      std::fprintf(f, "tenth_second\talltoall_bytes\treduction_bytes\tother_bytes\tpeak_rss_anon_bytes\n");
      std::lock_guard<std::mutex> lock(t.mutex);
      for (size_t s = 0; s < t.buckets.size(); ++s) {
        const Bucket& b = t.buckets[s];
        std::fprintf(f, "%zu\t%llu\t%llu\t%llu\t%llu\n", s, b.alltoall, b.reduction, b.other, b.peak_rss_anon);
      }
      std::fclose(f);
    }
  }
  return PMPI_Finalize();
}

int MPI_Alltoall(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf, int recvcount,
                 MPI_Datatype recvtype, MPI_Comm comm) {
  add(Kind::alltoall, static_cast<unsigned long long>(sendcount) * type_bytes(sendtype) * (comm_size(comm) - 1));
  return PMPI_Alltoall(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm);
}

int MPI_Alltoallv(const void* sendbuf, const int sendcounts[], const int sdispls[], MPI_Datatype sendtype,
                  void* recvbuf, const int recvcounts[], const int rdispls[], MPI_Datatype recvtype, MPI_Comm comm) {
  const int me = comm_rank(comm), size = comm_size(comm);
  unsigned long long rows = 0;
  for (int p = 0; p < size; ++p)
    if (p != me) rows += static_cast<unsigned long long>(sendcounts[p]);
  add(Kind::alltoall, rows * type_bytes(sendtype));
  return PMPI_Alltoallv(sendbuf, sendcounts, sdispls, sendtype, recvbuf, recvcounts, rdispls, recvtype, comm);
}

int MPI_Allreduce(const void* sendbuf, void* recvbuf, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm) {
  add(Kind::reduction, static_cast<unsigned long long>(count) * type_bytes(type));
  return PMPI_Allreduce(sendbuf, recvbuf, count, type, op, comm);
}

int MPI_Reduce(const void* sendbuf, void* recvbuf, int count, MPI_Datatype type, MPI_Op op, int root, MPI_Comm comm) {
  if (comm_rank(comm) != root) add(Kind::reduction, static_cast<unsigned long long>(count) * type_bytes(type));
  return PMPI_Reduce(sendbuf, recvbuf, count, type, op, root, comm);
}

int MPI_Bcast(void* buffer, int count, MPI_Datatype type, int root, MPI_Comm comm) {
  if (comm_rank(comm) == root)
    add(Kind::other, static_cast<unsigned long long>(count) * type_bytes(type) * (comm_size(comm) - 1));
  return PMPI_Bcast(buffer, count, type, root, comm);
}

int MPI_Gather(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf, int recvcount,
               MPI_Datatype recvtype, int root, MPI_Comm comm) {
  if (comm_rank(comm) != root) add(Kind::other, static_cast<unsigned long long>(sendcount) * type_bytes(sendtype));
  return PMPI_Gather(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, root, comm);
}

int MPI_Gatherv(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf, const int recvcounts[],
                const int displs[], MPI_Datatype recvtype, int root, MPI_Comm comm) {
  if (comm_rank(comm) != root) add(Kind::other, static_cast<unsigned long long>(sendcount) * type_bytes(sendtype));
  return PMPI_Gatherv(sendbuf, sendcount, sendtype, recvbuf, recvcounts, displs, recvtype, root, comm);
}

int MPI_Allgather(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf, int recvcount,
                  MPI_Datatype recvtype, MPI_Comm comm) {
  add(Kind::other, static_cast<unsigned long long>(sendcount) * type_bytes(sendtype));
  return PMPI_Allgather(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm);
}

int MPI_Allgatherv(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf, const int recvcounts[],
                   const int displs[], MPI_Datatype recvtype, MPI_Comm comm) {
  add(Kind::other, static_cast<unsigned long long>(sendcount) * type_bytes(sendtype));
  return PMPI_Allgatherv(sendbuf, sendcount, sendtype, recvbuf, recvcounts, displs, recvtype, comm);
}

}  // extern "C"
