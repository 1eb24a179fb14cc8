// The recent communication calls of this process, always kept: half of its flight record (the
// other half, its phases, is health/Progress.h). For each call: the communicator, its sequence
// number there, the operation, the bytes, the label its caller gave it (a bucket), and when it
// started and ended, on the system clock so that records of several hosts line up. A ring of the
// last 1024 calls; a call costs a few locks, two clock readings and a few stores.
//
// A communicator's number is the same on every rank of its group and differs between groups
// (communicators are made collectively, in the same order everywhere; a split's number comes from
// its parent's, the split's place among the parent's splits and the colour). Collectives are
// numbered 1, 2, ... on each communicator, so the same collective has the same number on every
// rank; point-to-point and local calls have number 0.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace ringtrain::comm {

struct CallRecord {
  int64_t communicator = -1;
  int64_t sequence = 0;        // from 1 per communicator for collectives; 0 for the others
  const char* operation = "";  // "allreduce", ...: a string literal
  int64_t bytes = 0;
  const char* labelKind = nullptr;  // "bucket", "scalars", or none
  int64_t labelIndex = -1;          // -1: none
  int64_t startNs = 0;              // since the epoch
  int64_t endNs = 0;                // 0 while the call runs
};

class CallLog {
 public:
  static constexpr size_t kCapacity = 1024;

  // Made on the thread that trains (main()), whose blocked call blockedIn() prefers.
  CallLog();

  // A number for a new communicator of every rank (`group` 0), or of a group of ranks that all
  // pass the same `group` (the ranks of a host: its lowest rank).
  int64_t newCommunicator(int64_t group = 0);
  // A number for the communicator a split of `parent` gives the ranks of colour `color`.
  int64_t splitCommunicator(int64_t parent, int color);
  // A call begins on `communicator`: returns the token end() takes.
  uint64_t start(int64_t communicator, const char* operation, int64_t bytes, bool collective);
  void end(uint64_t token);
  // While one lives, the thread that made it waits for call `token`.
  class Blocked {
   public:
    Blocked(CallLog& log, uint64_t token);
    ~Blocked();
    Blocked(const Blocked&) = delete;
    Blocked& operator=(const Blocked&) = delete;

   private:
    CallLog& log_;
    uint64_t token_;
  };
  // The calls still in the ring, oldest first.
  std::vector<CallRecord> recent() const;
  // The calls started since the one numbered `next` (0: the first of this process), oldest first;
  // `next` becomes the number of the call after them, and `lost` grows by those the ring no
  // longer held.
  std::vector<CallRecord> since(uint64_t& next, uint64_t& lost) const;
  // The call the training thread waits in, else the oldest call another thread waits in (the
  // gradient thread's allreduce that the training thread waits for in turn), else nothing.
  std::optional<CallRecord> blockedIn() const;

 private:
  const std::thread::id trainingThread_;
  const bool on_;
  std::vector<std::pair<std::thread::id, uint64_t>> blocked_;
  mutable std::mutex mutex_;
  std::vector<CallRecord> ring_ = std::vector<CallRecord>(kCapacity);
  uint64_t started_ = 0;                  // calls so far; the token of the next
  int64_t communicators_ = 0;             // made by newCommunicator
  std::map<int64_t, int64_t> splits_;     // per parent, the splits made of it
  std::map<int64_t, int64_t> sequences_;  // per communicator, the last collective's number
};

// Labels the calls this thread starts while it lives, e.g. CallLabel("bucket", 2) around a
// bucket's allreduce, or CallLabel("scalars") (no index). Labels nest; the innermost counts.
class CallLabel {
 public:
  explicit CallLabel(const char* kind, int64_t index = -1);
  ~CallLabel();
  CallLabel(const CallLabel&) = delete;
  CallLabel& operator=(const CallLabel&) = delete;

 private:
  const char* previousKind_;
  int64_t previousIndex_;
};

// Nanoseconds since the epoch on the system clock.
int64_t wallClockNs();

// False with RINGTRAIN_FLIGHT_RECORDER=off in the environment, which leaves the call log and the
// phase ring empty: for measuring what they cost.
bool flightRecorderOn();

}  // namespace ringtrain::comm
