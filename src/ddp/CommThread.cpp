#include "CommThread.h"

#include <c10/core/GradMode.h>
#include <c10/core/StreamGuard.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>

namespace ringtrain::ddp {

CommThread::CommThread() : thread_([this] { loop(); }) {}

CommThread::~CommThread() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Only reached with jobs queued when the step is being abandoned: starting their collectives
    // now could leave this rank waiting for peers that have stopped.
    jobs_.clear();
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void CommThread::submit(std::function<void()> job, c10::Device device) {
  std::optional<c10::Stream> stream;
  if (device.type() != c10::kCPU) {
    stream = c10::impl::getDeviceGuardImpl(device.type())->getStream(device);
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (failure_) return;
    jobs_.push_back({std::move(job), stream});
  }
  wake_.notify_one();
}

void CommThread::drain() {
  std::unique_lock<std::mutex> lock(mutex_);
  idle_.wait(lock, [this] { return jobs_.empty() && !busy_; });
  std::vector<c10::Event> finished = std::move(finished_);
  finished_.clear();
  if (failure_) {
    std::exception_ptr failure = failure_;
    failure_ = nullptr;
    std::rethrow_exception(failure);
  }
  lock.unlock();
  // The host has waited for the jobs; the caller's stream must also wait for the device work
  // they queued on theirs (a bucket copied back, then widened from its wire type).
  for (const c10::Event& done : finished) {
    const c10::Device device(done.device_type(), done.device_index());
    done.block(c10::impl::getDeviceGuardImpl(device.type())->getStream(device));
  }
}

void CommThread::loop() {
  c10::NoGradGuard noGrad;
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping, nothing left
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    busy_ = true;
    lock.unlock();
    std::exception_ptr failure;
    std::optional<c10::Event> done;
    try {
      const c10::OptionalStreamGuard onTheSubmittersStream(job.stream);
      job.run();
      if (job.stream) {
        done.emplace(job.stream->device_type());
        done->record(*job.stream);
      }
    } catch (...) {
      failure = std::current_exception();
    }
    lock.lock();
    if (done) finished_.push_back(std::move(*done));
    busy_ = false;
    if (failure && !failure_) {
      failure_ = failure;
      jobs_.clear();
    }
    if (jobs_.empty()) idle_.notify_all();
  }
}

}  // namespace ringtrain::ddp
