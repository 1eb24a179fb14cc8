#include "comm/CallLog.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

namespace ringtrain::comm {
namespace {

thread_local const char* currentLabelKind = nullptr;
thread_local int64_t currentLabelIndex = -1;

}  // namespace

int64_t wallClockNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool flightRecorderOn() {
  static const bool on = [] {
    const char* setting = std::getenv("RINGTRAIN_FLIGHT_RECORDER");
    return setting == nullptr || std::string(setting) != "off";
  }();
  return on;
}

CallLog::CallLog() : trainingThread_(std::this_thread::get_id()), on_(flightRecorderOn()) {}

namespace {

// A number from three, the same wherever the three are.
int64_t mix(int64_t a, int64_t b, int64_t c) {
  const uint64_t prime = 1000003;
  return static_cast<int64_t>(
      ((static_cast<uint64_t>(a) * prime + static_cast<uint64_t>(b)) * prime +
       static_cast<uint64_t>(c)) &
      0x3fffffffffffffffULL);
}

}  // namespace

int64_t CallLog::newCommunicator(int64_t group) {
  std::lock_guard<std::mutex> lock(mutex_);
  return mix(0, communicators_++, group);
}

int64_t CallLog::splitCommunicator(int64_t parent, int color) {
  std::lock_guard<std::mutex> lock(mutex_);
  return mix(parent, ++splits_[parent], color);
}

uint64_t CallLog::start(int64_t communicator, const char* operation, int64_t bytes,
                        bool collective) {
  if (!on_) return 0;
  const int64_t now = wallClockNs();
  std::lock_guard<std::mutex> lock(mutex_);
  const uint64_t token = started_++;
  CallRecord& record = ring_[token % kCapacity];
  record.communicator = communicator;
  record.sequence = collective ? ++sequences_[communicator] : 0;
  record.operation = operation;
  record.bytes = bytes;
  record.labelKind = currentLabelKind;
  record.labelIndex = currentLabelIndex;
  record.startNs = now;
  record.endNs = 0;
  return token;
}

void CallLog::end(uint64_t token) {
  if (!on_) return;
  const int64_t now = wallClockNs();
  std::lock_guard<std::mutex> lock(mutex_);
  // A call that has fallen out of the ring is forgotten.
  if (started_ - token <= kCapacity) ring_[token % kCapacity].endNs = now;
}

CallLog::Blocked::Blocked(CallLog& log, uint64_t token) : log_(log), token_(token) {
  if (!log_.on_) return;
  std::lock_guard<std::mutex> lock(log_.mutex_);
  log_.blocked_.emplace_back(std::this_thread::get_id(), token_);
}

CallLog::Blocked::~Blocked() {
  if (!log_.on_) return;
  std::lock_guard<std::mutex> lock(log_.mutex_);
  const auto found = std::find(log_.blocked_.begin(), log_.blocked_.end(),
                               std::make_pair(std::this_thread::get_id(), token_));
  if (found != log_.blocked_.end()) log_.blocked_.erase(found);
}

std::optional<CallRecord> CallLog::blockedIn() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::optional<uint64_t> chosen;
  for (const auto& [thread, token] : blocked_) {
    if (thread == trainingThread_) {
      chosen = token;
      break;
    }
    if (!chosen || token < *chosen) chosen = token;
  }
  if (!chosen || started_ - *chosen > kCapacity) return std::nullopt;
  return ring_[*chosen % kCapacity];
}

std::vector<CallRecord> CallLog::since(uint64_t& next, uint64_t& lost) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const uint64_t first = started_ > kCapacity ? started_ - kCapacity : 0;
  if (next < first) {
    lost += first - next;
    next = first;
  }
  std::vector<CallRecord> calls;
  for (; next < started_; ++next) calls.push_back(ring_[next % kCapacity]);
  return calls;
}

std::vector<CallRecord> CallLog::recent() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<CallRecord> calls;
  const uint64_t first = started_ > kCapacity ? started_ - kCapacity : 0;
  for (uint64_t token = first; token < started_; ++token) calls.push_back(ring_[token % kCapacity]);
  return calls;
}

CallLabel::CallLabel(const char* kind, int64_t index)
    : previousKind_(currentLabelKind), previousIndex_(currentLabelIndex) {
  currentLabelKind = kind;
  currentLabelIndex = index;
}

CallLabel::~CallLabel() {
  currentLabelKind = previousKind_;
  currentLabelIndex = previousIndex_;
}

}  // namespace ringtrain::comm
