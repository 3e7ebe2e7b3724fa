#pragma once
// A fixed set of worker threads for the CPU kernels' row/head loops. Idle workers block on a condition
// variable instead of spinning (as OpenMP runtimes do by default), so they never steal cores from
// OpenBLAS's threads or from other processes between parallel loops.
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace moqa::backend::cpu {

class WorkerPool {
 public:
  // `threads` >= 1 participants: the calling thread plus threads - 1 workers.
  explicit WorkerPool(int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls body(begin, end) on disjoint chunks covering [0, count), chunks of at least `grain` items, and
  // returns when all are done. The first exception thrown by a chunk is rethrown here. Not reentrant.
  void parallel_for(int64_t count, int64_t grain, const std::function<void(int64_t, int64_t)>& body);
  // Calls task(i) for every i in [0, count), handing out one index at a time: for a few tasks of uneven
  // size (a MoE layer's experts). Exceptions and reentrancy as parallel_for.
  void for_each_index(int64_t count, const std::function<void(int64_t)>& task);

 private:
  void run(int64_t count, int64_t chunk, const std::function<void(int64_t, int64_t)>& body);
  void work();  // takes chunks until none are left
  void worker_loop();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t, int64_t)>* body_ = nullptr;
  int64_t count_ = 0, chunk_ = 1, next_ = 0;
  int busy_ = 0;              // participants still working on the current loop
  uint64_t generation_ = 0;   // bumped for every loop, so a worker joins each loop once
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace moqa::backend::cpu
