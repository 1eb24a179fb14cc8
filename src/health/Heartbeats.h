// Liveness: every rank finds out within seconds that another rank died or froze, without the
// training thread having to reach a collective. Each rank runs a thread with TCP connections to
// two hubs, set up over MPI at start: rank 0, and the lowest rank on another host than rank 0's
// (rank 1 where there is one host). Ranks send the hubs a heartbeat with their step and phase
// (Progress.h) ten times per timeout and at least once a second, and the hubs answer likewise. The
// hubs watch every rank, the others watch the hubs (Liveness.h): 2N connections for N ranks, and
// when a whole host goes away, the hub that is left names all of its ranks.
//
// A lost rank is one silent for the timeout (SIGSTOP, a host gone: a TCP connection gives no
// sign of either), or one whose connection closed without a goodbye (killed, crashed). A hub
// that finds ranks lost tells the others to stop and reports which, where and in which step and
// phase. Rank 0 reports at once, the second hub 2 s later (when rank 0 is lost), the other ranks
// (when both hubs are lost) 6 to 12 s later, so that the launcher has ended the job after the
// first report. A rank that leaves normally says goodbye first, so that ranks
// finishing at different times raise no alarm.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "health/Liveness.h"
#include "ringtrain/comm/Communicator.h"

namespace ringtrain::health {

class Heartbeats {
 public:
  // Called once, on the heartbeat thread, when this rank finds ranks `lost`, or when rank 0 said
  // the job ends (`lost` empty: rank 0 reports). Expected to end the process.
  using Handler = std::function<void(const std::vector<LostRank>& lost)>;

  // Collective over `control` (all ranks, CPU): connects the ranks to the hubs and starts the
  // thread. If some rank cannot connect within a few seconds (no route, a firewall), no rank
  // watches and problem() says why on rank 0.
  Heartbeats(comm::Communicator& control, std::chrono::milliseconds timeout, Handler onLost);
  // Says goodbye and stops the thread.
  ~Heartbeats();
  Heartbeats(const Heartbeats&) = delete;
  Heartbeats& operator=(const Heartbeats&) = delete;

  bool watching() const;
  // Rank 0, when watching() is false: why.
  const std::string& problem() const { return problem_; }

  // Whether this rank is a hub, which hears every rank.
  bool hub() const;
  // How long after a timeout this rank should report what it found, so that a hub reports first
  // and the launcher has ended the job before the others do: 0 on rank 0, 2 s on the second hub,
  // 6 to 12 s elsewhere.
  std::chrono::milliseconds reportDelay() const;
  // What the ranks this one hears last said (every other rank on a hub), as verdicts take them
  // (Verdict.h); ranks lost or never heard from are absent. Any thread.
  std::vector<RankState> lastHeard() const;
  // This rank reported the end of the job: a hub tells the ranks it hears, so that they write
  // their flight records and exit; another rank says goodbye, so that no hub reports it lost.
  // Stops the heartbeats; waits a second at most. Any thread.
  void endJob();

 private:
  struct Channel;
  std::unique_ptr<Channel> channel_;
  std::string problem_;
};

}  // namespace ringtrain::health
