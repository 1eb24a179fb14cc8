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
#include <utility>
#include <vector>

namespace ringtrain::comm {

using WatchClock = std::chrono::steady_clock;

// The waits in progress and when each began: the watchdog's bookkeeping, without the thread.
class OpenWaits {
 public:
  struct Expired {
    uint64_t id = 0;
    std::string description;  // e.g. "allreduce of 4.0 MiB"
    std::chrono::milliseconds waited{0};
    // Set when a backend reported a failure (a NCCL asynchronous error) instead of a wait running
    // out: what it reported.
    std::string failure;
  };
  // For work a device runs after the call that queued it has returned: says whether it is done.
  using Done = std::function<bool()>;

  // `operation` must outlive the wait (a string literal). A wait with `done` is closed by
  // closeFinished() once `done` returns true; one without, by close().
  uint64_t open(const char* operation, int64_t bytes, WatchClock::time_point now,
                Done done = nullptr);
  void close(uint64_t id);
  void closeFinished();
  bool isOpen(uint64_t id) const;
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
    Done done;
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

  // Starts checking open waits against `timeout`. A wait that runs out gets `holdBack` more to
  // finish (so that, of several ranks timing out together, one can report first) before
  // `onExpired` is called. Call at most once.
  void arm(std::chrono::milliseconds timeout, Handler onExpired,
           std::chrono::milliseconds holdBack = std::chrono::milliseconds(0));
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
  // Marks work that was queued (on a GPU stream, say) and ends when `done` says so; `done` is
  // called with the watchdog's lock held, so it must be quick and must not block.
  void watchUntil(const char* operation, int64_t bytes, OpenWaits::Done done);

  // Asked at every check: a failure a backend found on its own (a NCCL asynchronous error), which
  // ends the job at once like a wait that ran out. Must be quick and must not block.
  using FailureProbe = std::function<std::optional<std::string>()>;
  // Run before the handler (on a thread of their own, for at most 10 s), e.g. to abort a NCCL
  // communicator so that the kernels waiting for a dead peer return. They may run while their
  // owner is being destroyed, so they must capture what they need by value.
  using AbortAction = std::function<void()>;
  // Both return a key for remove(); whoever registers must remove before it goes away.
  uint64_t addFailureProbe(FailureProbe probe);
  uint64_t addAbortAction(AbortAction action);
  void remove(uint64_t key);

 private:
  void run();
  std::optional<OpenWaits::Expired> reportedFailure();  // caller holds mutex_
  void expire(std::unique_lock<std::mutex>& lock, const OpenWaits::Expired& expired);
  // Lets the expired wait finish during the hold-back; true if it is still open afterwards.
  bool stillOpenAfterHoldBack(std::unique_lock<std::mutex>& lock, uint64_t id);

  std::atomic<bool> armed_{false};
  std::chrono::milliseconds timeout_{0};
  std::chrono::milliseconds holdBack_{0};
  Handler onExpired_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  OpenWaits waits_;
  uint64_t nextKey_ = 1;
  std::vector<std::pair<uint64_t, FailureProbe>> probes_;
  std::vector<std::pair<uint64_t, AbortAction>> abortActions_;
  std::thread thread_;
};

}  // namespace ringtrain::comm
