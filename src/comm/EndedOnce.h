// A handle that is ended exactly once, by whichever comes first (a watchdog's abort on its own
// thread, or its owner), and is never read while it is being ended.
//
// NCCL frees a communicator inside ncclCommAbort; a query on another thread at that moment reads
// freed memory. A query runs under a lock and only while the handle is live; ending marks it
// ended under that lock (so after any query in progress) and then ends it outside, since ending
// can take long (ncclCommDestroy waits for outstanding work). Only short, non-blocking calls
// belong under the lock. What a caller does with a handle it got from ifLive() is not covered.
#pragma once

#include <mutex>
#include <optional>
#include <utility>

namespace ringtrain::comm {

template <typename Handle>
class EndedOnce {
 public:
  explicit EndedOnce(Handle handle) : handle_(std::move(handle)) {}
  EndedOnce(const EndedOnce&) = delete;
  EndedOnce& operator=(const EndedOnce&) = delete;

  // `query(handle)` while the handle is live; nullopt once it has ended.
  template <typename Query>
  auto ifLive(Query&& query) -> std::optional<decltype(query(std::declval<Handle&>()))> {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (ended_) return std::nullopt;
    return query(handle_);
  }

  // Runs `end(handle)` unless the handle has ended already; true when this call ended it.
  template <typename End>
  bool end(End&& end) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (ended_) return false;
      ended_ = true;
    }
    end(handle_);  // no query can start now, and none is in progress
    return true;
  }

  bool ended() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return ended_;
  }

 private:
  mutable std::mutex mutex_;
  Handle handle_;
  bool ended_ = false;
};

}  // namespace ringtrain::comm
