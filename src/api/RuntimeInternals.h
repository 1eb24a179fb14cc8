// What the library itself reads from a Runtime besides its public face: the rank's placement
// (its device, threads, and whether a communication thread may run) for DataParallel and
// runTraining, and the heartbeat timeout that runTraining records.
#pragma once

#include "platform/Placement.h"
#include "ringtrain/Runtime.h"

namespace ringtrain {

struct RuntimeInternals {
  static const platform::Placement& placement(const Runtime& runtime);
  static double heartbeatTimeoutSeconds(const Runtime& runtime);
};

}  // namespace ringtrain
