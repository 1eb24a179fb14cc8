// The bookkeeping of heartbeats, without sockets or threads (Heartbeats.h sends and receives):
// the message every rank sends, and, for the ranks one rank watches, when each was last heard,
// what it last reported, and which are lost.
//
// A watched rank is lost when it has been silent for the timeout (frozen: SIGSTOP, a hung
// kernel driver, a host gone) or when its connection closed without a goodbye and stayed closed
// for a short grace (the process died: killed, crashed, or ended by an error it reports itself).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "health/Progress.h"
#include "health/Verdict.h"

namespace ringtrain::health {

using LivenessClock = std::chrono::steady_clock;

enum class BeatKind : uint8_t {
  kHello = 1,    // a rank's first message on its connection
  kBeat = 2,     // alive, with where it is
  kGoodbye = 3,  // leaving normally: stop watching me
  kVerdict = 4,  // from rank 0: the job ends; rank 0 reports why
};

struct Beat {
  BeatKind kind = BeatKind::kBeat;
  int rank = 0;
  int pid = 0;
  ProgressMark progress;
  std::string host;                    // at most kHostBytes - 1 bytes are sent
  std::optional<WaitingCall> waiting;  // names cut to kNameBytes - 1 bytes
};

inline constexpr size_t kHostBytes = 64;
inline constexpr size_t kNameBytes = 32;
inline constexpr size_t kBeatBytes = 192;
using BeatBytes = std::array<char, kBeatBytes>;

BeatBytes encodeBeat(const Beat& beat);
// Nothing when `bytes` is not a beat of this version (a stray connection).
std::optional<Beat> decodeBeat(const BeatBytes& bytes);

// A watched rank that is lost, with what it last said.
struct LostRank {
  Beat last;
  bool exited = false;  // its connection closed; otherwise it fell silent
  double silentSeconds = 0;
};

class Liveness {
 public:
  // Watches `ranks`, each counted as heard at `now`.
  Liveness(const std::vector<int>& ranks, LivenessClock::time_point now);

  void heard(const Beat& beat, LivenessClock::time_point now);
  void leftNormally(int rank);
  void closed(int rank, LivenessClock::time_point now);
  // Time this process spent stopped or starved (its own pause, not its peers' silence) moves
  // every peer's last word later by `pause`.
  void postpone(LivenessClock::duration pause);

  // The ranks silent for `timeout` or more, or closed for `grace` or more, at `now`, and with
  // them (when there are any) the ranks silent for half the timeout, which a host gone silences a
  // beat apart; in rank order.
  std::vector<LostRank> lost(LivenessClock::time_point now, LivenessClock::duration timeout,
                             LivenessClock::duration grace) const;
  // What each watched rank last said (its hello, or a default beat of that rank before it), and
  // how many seconds before `now`.
  std::vector<std::pair<Beat, double>> lastBeats(LivenessClock::time_point now) const;

 private:
  struct Peer {
    Beat last;
    LivenessClock::time_point heardAt;
    std::optional<LivenessClock::time_point> closedAt;
    bool left = false;
  };
  std::map<int, Peer> peers_;
};

// The report: one line per lost rank, "rank 3 (host b, pid 4121) stopped answering heartbeats
// 10.2 s ago (frozen, or its host is gone); it last reported step 1204, backward".
std::string describeLost(const std::vector<LostRank>& lost);

}  // namespace ringtrain::health
