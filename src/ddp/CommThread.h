// A thread that runs communication jobs one at a time, in the order they were submitted, so that
// gradient buckets are reduced while the main thread is still in backward. Collectives must be
// issued in the same order on every rank, which a single FIFO thread guarantees.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/Event.h>
#include <c10/core/Stream.h>

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace ringtrain::ddp {

class CommThread {
 public:
  CommThread();
  // Finishes the running job, drops the queued ones.
  ~CommThread();
  CommThread(const CommThread&) = delete;
  CommThread& operator=(const CommThread&) = delete;

  // The job runs on the stream the submitting thread has current for `device` (none for the CPU),
  // so that its copies come after the kernels that made its inputs, also when those ran on a
  // stream other than the default one (a library user's, or one autograd chose).
  void submit(std::function<void()> job, c10::Device device = c10::kCPU);
  // Blocks until every submitted job has run, then rethrows the first failure, if any, and makes
  // the calling thread's current stream wait for the device work the jobs queued. Jobs submitted
  // after a failure are dropped: their inputs may depend on the failed one.
  void drain();

 private:
  void loop();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  struct Job {
    std::function<void()> run;
    std::optional<c10::Stream> stream;
  };
  std::deque<Job> jobs_;
  std::vector<c10::Event> finished_;  // recorded behind each job that ran on a device stream
  bool busy_ = false;
  bool stopping_ = false;
  std::exception_ptr failure_;
  std::thread thread_;
};

}  // namespace ringtrain::ddp
