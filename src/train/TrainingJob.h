// The training job on communicators and a placement made by the caller: what `ringtrain train`
// runs, and what runTraining(Runtime&, ...) (ringtrain/train/Trainer.h) hands its runtime's to.
#pragma once

#include "platform/Placement.h"
#include "ringtrain/comm/Communicator.h"
#include "ringtrain/train/Trainer.h"

namespace ringtrain::train {

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
                       const platform::Placement& placement, const TrainHooks& hooks = {});

}  // namespace ringtrain::train
