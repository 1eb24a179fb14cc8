// ringtrain's public API in one include, for programs built against the installed package:
//   find_package(ringtrain REQUIRED)
//   target_link_libraries(app PRIVATE ringtrain::ringtrain)
// Two ways in (docs/your-own-model.md):
//  - your own loop: Runtime (ranks, device), data::DistributedSampler (which samples a rank
//    reads), DataParallel (gradients averaged across ranks), saveCheckpoint/restore;
//  - the ringtrain trainer with your model, loss and metrics: train::runTraining with
//    train::TrainHooks, which brings checkpoints, resumption, pipelines and summary.json.
#pragma once

#include "ringtrain/Checkpoints.h"
#include "ringtrain/DataParallel.h"
#include "ringtrain/Runtime.h"
#include "ringtrain/comm/Agreement.h"
#include "ringtrain/comm/Communicator.h"
#include "ringtrain/data/Dataset.h"
#include "ringtrain/data/DistributedSampler.h"
#include "ringtrain/models/Model.h"
#include "ringtrain/train/TrainConfig.h"
#include "ringtrain/train/Trainer.h"
#include "ringtrain/util/Error.h"
