// Who stopped a job: from what each rank was doing when it ended (from its flight record, or from
// the heartbeats it last sent), one line that names the culprit, e.g.
//   rank 3 (host b, pid 4121) stopped in backward of step 1204, outside any communication call;
//   ranks 0-2 and 4-7 wait in allreduce #5012 (bucket 2) of step 1204
// Pure: the `ringtrain doctor` command and the reports at a timeout share it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "health/Progress.h"

namespace ringtrain::health {

// The communication call a rank waits in.
struct WaitingCall {
  int64_t communicator = -1;
  int64_t sequence = 0;
  std::string operation;
  std::string labelKind;    // "bucket", "scalars", or empty
  int64_t labelIndex = -1;  // -1: none
  int64_t bytes = 0;
};

struct RankState {
  int rank = 0;
  bool known = false;   // false: nothing is known of it (no record left, or lost)
  std::string failure;  // set when the rank ended by an error of its own: the error
  std::string host;
  int pid = 0;
  ProgressMark progress;
  std::optional<WaitingCall> waiting;
  // Seconds since it was last heard from, where a hub knows: more than a few, and it is frozen
  // or its host gone, whatever it last said.
  double silentSeconds = 0;
};

// "bucket 2", "scalars" (a label without an index), or empty.
std::string describeLabel(const WaitingCall& call);
// "allreduce #5012 (bucket 2)".
std::string describeCall(const WaitingCall& call);
// "rank 3", "ranks 0-2 and 4-7", "ranks 0, 1 and 3".
std::string describeRanks(const std::vector<int>& ranks);

// The verdict over ranks 0 .. ranks.size() - 1 (in order).
std::string verdictOf(const std::vector<RankState>& ranks);

}  // namespace ringtrain::health
