// How every MPI command of `ringtrain` runs on its rank (train, bench-comm, kmeans, pca): the
// process started once, the flags parsed on every rank together, help from rank 0, the watchdog,
// and failures ended the same way.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "launch/RankProcess.h"

namespace ringtrain::launch {

// What a command's flags asked of its process.
struct CommandStart {
  std::optional<std::string> help;  // --help: rank 0 prints this and the command ends with 0
  // --comm-timeout (0: no watchdog), as launch/CommTimeout.h allows: flags::readRankFlags checks.
  double commTimeoutSeconds = 0;
  // --heartbeat-timeout (0: no heartbeats), as launch/CommTimeout.h allows.
  double heartbeatTimeoutSeconds = 0;
};

// Starts the process of `program` ("ringtrain kmeans") and runs, on every rank:
//   parse(process)  together on all ranks, so that a bad flag or an unmet setting on any rank
//                   fails every rank with the lowest failing rank's message (exit status 2);
//   help            printed by rank 0 when parse asked for it;
//   the watchdog    on every communication call from then on, and heartbeats among the ranks;
//   run(process)    the command; returns the exit status.
// A comm::CollectiveFailure out of either ends every rank with its status, reported once; any
// other exception ends the whole job from the rank that threw it.
int runCommand(const std::string& program, int& argc, char**& argv,
               const std::function<CommandStart(RankProcess&)>& parse,
               const std::function<int(RankProcess&)>& run);

}  // namespace ringtrain::launch
