#include "backend/cpu/worker_pool.h"

#include <algorithm>

namespace moqa::backend::cpu {

WorkerPool::WorkerPool(int threads) {
  for (int i = 1; i < std::max(threads, 1); ++i) workers_.emplace_back([this] { worker_loop(); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void WorkerPool::work() {
  for (;;) {
    int64_t begin = 0;
    {
      std::lock_guard lock(mutex_);
      if (next_ >= count_ || error_) return;
      begin = next_;
      next_ = std::min(count_, next_ + chunk_);
    }
    try {
      (*body_)(begin, std::min(count_, begin + chunk_));
    } catch (...) {
      std::lock_guard lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }
}

void WorkerPool::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    work();
    {
      std::lock_guard lock(mutex_);
      if (--busy_ == 0) done_.notify_one();
    }
  }
}

void WorkerPool::parallel_for(int64_t count, int64_t grain, const std::function<void(int64_t, int64_t)>& body) {
  if (count <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  // Few chunks per participant: enough to balance uneven chunks (causal attention), few lock round-trips.
  run(count, std::max(grain, (count + 4 * threads() - 1) / (4 * threads())), body);
}

void WorkerPool::for_each_index(int64_t count, const std::function<void(int64_t)>& task) {
  if (count <= 0) return;
  const std::function<void(int64_t, int64_t)> body = [&task](int64_t first, int64_t last) {
    for (int64_t i = first; i < last; ++i) task(i);
  };
  run(count, 1, body);
}

void WorkerPool::run(int64_t count, int64_t chunk, const std::function<void(int64_t, int64_t)>& body) {
  if (workers_.empty() || count <= chunk) {
    body(0, count);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    body_ = &body;
    count_ = count;
    chunk_ = chunk;
    next_ = 0;
    error_ = nullptr;
    busy_ = static_cast<int>(workers_.size());
    ++generation_;
  }
  wake_.notify_all();
  work();
  std::unique_lock lock(mutex_);
  done_.wait(lock, [&] { return busy_ == 0; });
  body_ = nullptr;
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

}  // namespace moqa::backend::cpu
