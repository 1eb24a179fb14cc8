// A thread that runs communication jobs one at a time, in the order they were submitted, so that
// gradient buckets are reduced while the main thread is still in backward. Collectives must be
// issued in the same order on every rank, which a single FIFO thread guarantees.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace ringtrain::ddp {

class CommThread {
 public:
  CommThread();
  // Finishes the running job, drops the queued ones.
  ~CommThread();
  CommThread(const CommThread&) = delete;
  CommThread& operator=(const CommThread&) = delete;

  void submit(std::function<void()> job);
  // Blocks until every submitted job has run, then rethrows the first failure, if any. Jobs
  // submitted after a failure are dropped: their inputs may depend on the failed one.
  void drain();

 private:
  void loop();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<std::function<void()>> jobs_;
  bool busy_ = false;
  bool stopping_ = false;
  std::exception_ptr failure_;
  std::thread thread_;
};

}  // namespace ringtrain::ddp
