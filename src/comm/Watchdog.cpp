#include "comm/Watchdog.h"

#include <algorithm>
#include <future>
#include <iomanip>
#include <sstream>

namespace ringtrain::comm {
namespace {

void writeSize(std::ostream& out, int64_t bytes) {
  if (bytes < 1024) {
    out << bytes << " bytes";
  } else if (bytes < 1024 * 1024) {
    out << std::fixed << std::setprecision(1) << bytes / 1024.0 << " KiB";
  } else {
    out << std::fixed << std::setprecision(1) << bytes / (1024.0 * 1024.0) << " MiB";
  }
}

}  // namespace

uint64_t OpenWaits::open(const char* operation, int64_t bytes, WatchClock::time_point now,
                         Done done) {
  const uint64_t id = nextId_++;
  waits_.push_back({id, operation, bytes, now, std::move(done)});
  return id;
}

void OpenWaits::closeFinished() {
  waits_.erase(std::remove_if(waits_.begin(), waits_.end(),
                              [](const Wait& wait) { return wait.done && wait.done(); }),
               waits_.end());
}

bool OpenWaits::isOpen(uint64_t id) const {
  return std::any_of(waits_.begin(), waits_.end(),
                     [id](const Wait& wait) { return wait.id == id; });
}

void OpenWaits::close(uint64_t id) {
  const auto found =
      std::find_if(waits_.begin(), waits_.end(), [id](const Wait& wait) { return wait.id == id; });
  if (found != waits_.end()) waits_.erase(found);
}

void OpenWaits::postpone(WatchClock::duration pause) {
  for (Wait& wait : waits_) wait.since += pause;
}

std::optional<OpenWaits::Expired> OpenWaits::oldestExpired(WatchClock::time_point now,
                                                           WatchClock::duration timeout) const {
  const auto oldest = std::min_element(
      waits_.begin(), waits_.end(), [](const Wait& a, const Wait& b) { return a.since < b.since; });
  if (oldest == waits_.end() || now - oldest->since < timeout) return std::nullopt;
  std::ostringstream description;
  description << oldest->operation;
  if (oldest->bytes > 0) {
    description << " of ";
    writeSize(description, oldest->bytes);
  }
  return Expired{oldest->id,
                 description.str(),
                 std::chrono::duration_cast<std::chrono::milliseconds>(now - oldest->since),
                 {}};
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::arm(std::chrono::milliseconds timeout, Handler onExpired,
                   std::chrono::milliseconds holdBack) {
  if (armed() || timeout.count() <= 0) return;
  timeout_ = timeout;
  holdBack_ = holdBack;
  onExpired_ = std::move(onExpired);
  armed_.store(true, std::memory_order_release);
  thread_ = std::thread([this] { run(); });
}

Watchdog::Watch Watchdog::watch(const char* operation, int64_t bytes) {
  if (!armed()) return Watch();
  std::lock_guard<std::mutex> lock(mutex_);
  return Watch(this, waits_.open(operation, bytes, WatchClock::now()));
}

void Watchdog::watchUntil(const char* operation, int64_t bytes, OpenWaits::Done done) {
  if (!armed()) return;
  std::lock_guard<std::mutex> lock(mutex_);
  // Queued work finishes in order, so pruning here keeps the list as short as the queue.
  waits_.closeFinished();
  waits_.open(operation, bytes, WatchClock::now(), std::move(done));
}

uint64_t Watchdog::addFailureProbe(FailureProbe probe) {
  std::lock_guard<std::mutex> lock(mutex_);
  probes_.emplace_back(nextKey_, std::move(probe));
  return nextKey_++;
}

uint64_t Watchdog::addAbortAction(AbortAction action) {
  std::lock_guard<std::mutex> lock(mutex_);
  abortActions_.emplace_back(nextKey_, std::move(action));
  return nextKey_++;
}

void Watchdog::remove(uint64_t key) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto keyed = [key](const auto& item) { return item.first == key; };
  probes_.erase(std::remove_if(probes_.begin(), probes_.end(), keyed), probes_.end());
  abortActions_.erase(std::remove_if(abortActions_.begin(), abortActions_.end(), keyed),
                      abortActions_.end());
}

std::optional<OpenWaits::Expired> Watchdog::reportedFailure() {
  for (const auto& [key, probe] : probes_) {
    if (std::optional<std::string> failure = probe()) {
      OpenWaits::Expired expired;
      expired.description = "communication";
      expired.failure = std::move(*failure);
      return expired;
    }
  }
  return std::nullopt;
}

// An abort can itself hang (a network teardown that never finishes), and the report and the exit
// must not wait for it: the actions get a bounded time on a thread of their own, then the handler
// runs and ends the process regardless.
void Watchdog::expire(std::unique_lock<std::mutex>& lock, const OpenWaits::Expired& expired) {
  std::vector<AbortAction> actions;
  for (const auto& [key, action] : abortActions_) actions.push_back(action);
  lock.unlock();
  if (!actions.empty()) {
    auto finished = std::make_shared<std::promise<void>>();
    std::future<void> done = finished->get_future();
    std::thread([actions = std::move(actions), finished] {
      for (const AbortAction& action : actions) action();
      finished->set_value();
    }).detach();
    done.wait_for(std::chrono::seconds(10));
  }
  onExpired_(expired);
}

Watchdog::Watch::~Watch() {
  if (owner_ == nullptr) return;
  std::lock_guard<std::mutex> lock(owner_->mutex_);
  owner_->waits_.close(id_);
}

void Watchdog::run() {
  // Checking ten times per timeout keeps the overshoot at a tenth; a second is often enough for
  // timeouts of minutes.
  const auto interval = std::clamp<std::chrono::milliseconds>(
      timeout_ / 10, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
  std::unique_lock<std::mutex> lock(mutex_);
  auto lastCheck = WatchClock::now();
  while (!stopping_) {
    wake_.wait_for(lock, interval, [this] { return stopping_; });
    if (stopping_) return;
    const auto now = WatchClock::now();
    // Oversleeping by far means this whole process was stopped, not that a peer was late.
    const auto overslept = now - lastCheck - interval;
    if (overslept > std::max<WatchClock::duration>(interval, std::chrono::seconds(1))) {
      waits_.postpone(overslept);
    }
    if (const auto failure = reportedFailure()) {
      expire(lock, *failure);
      return;
    }
    waits_.closeFinished();
    const auto expired = waits_.oldestExpired(now, timeout_);
    if (expired && stillOpenAfterHoldBack(lock, expired->id)) {
      expire(lock, *expired);
      return;
    }
    // After a hold-back too: time spent there is not time this process was stopped.
    lastCheck = WatchClock::now();
  }
}

bool Watchdog::stillOpenAfterHoldBack(std::unique_lock<std::mutex>& lock, uint64_t id) {
  const auto until = WatchClock::now() + holdBack_;
  while (WatchClock::now() < until) {
    wake_.wait_for(lock, std::chrono::milliseconds(50), [this] { return stopping_; });
    if (stopping_) return false;
    waits_.closeFinished();
    if (!waits_.isOpen(id)) return false;
  }
  return waits_.isOpen(id);
}

}  // namespace ringtrain::comm
