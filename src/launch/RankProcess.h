// One rank of an MPI job, started the way every command and the library's Runtime start it: MPI
// up, a control communicator for agreeing, a communication watchdog, and one way each to end when
// something fails. `program` begins every message ("ringtrain train", or a library user's
// program name).
#pragma once

#include <exception>
#include <memory>
#include <string>

#include "comm/Session.h"
#include "health/Heartbeats.h"
#include "launch/LaunchCheck.h"
#include "ringtrain/comm/Agreement.h"

namespace ringtrain::launch {

class RankProcess {
 public:
  // Starts MPI (argc and argv as MPI_Init leaves them) and the control communicator. UserError
  // when the launcher started several processes that MPI sees as jobs of one (LaunchCheck.h).
  RankProcess(std::string program, int& argc, char**& argv);
  ~RankProcess();
  RankProcess(const RankProcess&) = delete;
  RankProcess& operator=(const RankProcess&) = delete;

  const std::string& program() const { return program_; }
  comm::Session& session() { return session_; }
  const comm::Topology& topology() const { return session_.topology(); }
  // Small CPU collectives among all ranks: agreement (comm::runOnAllRanks), control messages.
  comm::Communicator& control() { return *control_; }

  // From now on a communication call that waits longer than `seconds` (0: never; as
  // launch/CommTimeout.h allows) ends the job, reported by a hub of the heartbeats (when
  // watchLiveness came first) or by the lowest rank that noticed.
  void watchCommunication(double seconds);
  // Collective. From now on a rank that dies or freezes is noticed by the others within `seconds`
  // (0: not watched; as launch/CommTimeout.h allows), and the job ends with a report naming it
  // (health/Heartbeats.h). Where the ranks cannot reach each other, rank 0 warns and nothing is
  // watched.
  void watchLiveness(double seconds);

  // Every rank got `failure` together; the reporting rank says why. Returns the exit status.
  int reportCollectiveFailure(const comm::CollectiveFailure& failure) const;
  // This rank alone failed while the others may wait for it: says why and ends the whole job.
  [[noreturn]] void abortAfterFailure(const std::exception& error);

 private:
  std::string program_;
  LaunchEnvironment launchedAs_;  // read before MPI starts
  comm::Session session_;
  std::unique_ptr<comm::Communicator> control_;
  std::shared_ptr<health::Heartbeats> heartbeats_;  // says goodbye before MPI ends
};

// What a training process sets up once MPI has started (whose own signal handlers this replaces):
// freed GPU memory kept for the next step, and SIGTERM, SIGINT and SIGUSR1 taken as a request to
// checkpoint and stop. A request stays: a later run in the same process stops at its first step,
// since whoever sent it wants the process to end.
void prepareForTraining();

}  // namespace ringtrain::launch
