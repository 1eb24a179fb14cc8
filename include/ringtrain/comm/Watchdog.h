// Bounds how long a rank waits for the others. Every blocking communication call runs under a
// Watch; a thread looks at the open watches and, once one has been open longer than the timeout,
// hands its description to a handler that ends the job. Without it, one rank that stops making
// progress (stuck in a kernel, paused, swapped out, or dead under a launcher that does not notice)
// leaves every other rank waiting forever.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace ringtrain::comm {

using WatchClock = std::chrono::steady_clock;

// The waits in progress and when each began: the watchdog's bookkeeping, without the thread.
class OpenWaits {
 public:
  struct Expired {
    std::string description;  // e.g. "allreduce of 4.0 MiB"
    std::chrono::milliseconds waited;
  };

  // `operation` must outlive the wait (a string literal).
  uint64_t open(const char* operation, int64_t bytes, WatchClock::time_point now);
  void close(uint64_t id);
  size_t size() const { return waits_.size(); }
  // Moves the start of every open wait later by `pause`: time this process spent stopped (a
  // debugger, SIGSTOP, a suspended VM) is not time spent waiting for the others.
  void postpone(WatchClock::duration pause);
  // The oldest wait if it has been open for `timeout` or longer at `now`.
  std::optional<Expired> oldestExpired(WatchClock::time_point now,
                                       WatchClock::duration timeout) const;

 private:
  struct Wait {
    uint64_t id;
    const char* operation;
    int64_t bytes;
    WatchClock::time_point since;
  };
  std::vector<Wait> waits_;
  uint64_t nextId_ = 1;
};

class Watchdog {
 public:
  // Called once, on the watchdog's thread, with the wait that ran out; expected to end the
  // process.
  using Handler = std::function<void(const OpenWaits::Expired&)>;

  // Disarmed: watches cost one atomic load until arm() is called.
  Watchdog() = default;
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Starts checking open waits against `timeout`. Call at most once.
  void arm(std::chrono::milliseconds timeout, Handler onExpired);
  bool armed() const { return armed_.load(std::memory_order_acquire); }

  class Watch {
   public:
    Watch() = default;
    Watch(Watch&& other) noexcept : owner_(other.owner_), id_(other.id_) { other.owner_ = nullptr; }
    Watch& operator=(Watch&&) = delete;
    ~Watch();

   private:
    friend class Watchdog;
    Watch(Watchdog* owner, uint64_t id) : owner_(owner), id_(id) {}
    Watchdog* owner_ = nullptr;
    uint64_t id_ = 0;
  };
  // Marks the start of a blocking call; the wait ends when the Watch is destroyed.
  [[nodiscard]] Watch watch(const char* operation, int64_t bytes);

 private:
  void run();

  std::atomic<bool> armed_{false};
  std::chrono::milliseconds timeout_{0};
  Handler onExpired_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  OpenWaits waits_;
  std::thread thread_;
};

}  // namespace ringtrain::comm
