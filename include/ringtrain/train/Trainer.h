// The training job: set up data, model and optimizer on every rank, keep the replicas identical
// (same initial parameters, averaged gradients), evaluate each epoch, and write the outputs.
#pragma once

#include <memory>
#include <string>

#include "ringtrain/comm/Communicator.h"
#include "ringtrain/platform/Placement.h"
#include "ringtrain/train/TrainConfig.h"

namespace ringtrain::train {

struct RunSummary {
  int worldSize = 1;
  int64_t steps = 0;
  int64_t epochs = 0;
  double finalTrainLoss = 0;  // mean over the last epoch's steps
  double valLoss = 0;
  double valAccuracy = 0;
  double samplesPerSec = 0;  // global training samples / training time
  double trainingSeconds = 0;
  double trainingCpuSeconds = 0;  // CPU time of the busiest rank's process while training
  double exposedCommSeconds = 0;  // slowest rank's wait for gradient communication
  double inputWaitSeconds = 0;    // slowest rank's wait for training batches
  double peakRssMib = 0;          // largest over ranks
  double heapFreeMib = 0;         // at the end, largest over ranks: resident but unused
  double wallSeconds = 0;
};

// `control` carries small CPU messages among all ranks (agreement, shapes); `host` the same among
// the ranks of this host (a stream's samples); `data` carries gradients and metrics on the
// placement's device. `data` must differ from the others: the reducer's communication thread
// uses it while the main thread may use them.
struct Communicators {
  comm::Communicator& control;
  comm::Communicator& host;
  comm::Communicator& data;
};
RunSummary runTraining(const TrainConfig& config, const Communicators& communicators,
                       const platform::Placement& placement);

}  // namespace ringtrain::train
