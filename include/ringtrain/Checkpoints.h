// Checkpoints of a module and its optimizer for programs with their own loop, in the directory
// layout `ringtrain train` writes (checkpoint/CheckpointStore.h): one directory per step, written
// completely or not at all, checksummed, the newest `keep` kept.
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "ringtrain/DataParallel.h"
#include "ringtrain/Export.h"
#include "ringtrain/Runtime.h"

namespace ringtrain {

// Writes `directory`/step-NNNNNNNNN with the module's parameters and buffers, the optimizer's
// state, the CPU random generator and `state` (anything JSON: the epoch, say), then removes all
// but the newest `keep`. Call it on one rank (rank 0). Returns the checkpoint's path; UserError
// naming the path on failure, leaving the earlier checkpoints as they were.
RINGTRAIN_API std::string saveCheckpoint(const std::string& directory, int64_t step,
                                         torch::nn::Module& module,
                                         torch::optim::Optimizer& optimizer,
                                         const nlohmann::json& state = {}, int keep = 3);

struct RestoredCheckpoint {
  std::string path;
  int64_t step = 0;
  nlohmann::json state;
};

// Collective: rank 0 picks the newest checkpoint of `directory` that verifies, and every rank
// loads that one into a module and optimizer built as the saved ones were (every rank must see
// the directory: a shared file system). Nothing when there is none. If it fails on any rank, it
// throws on every rank (comm::CollectiveFailure, naming the checkpoint).
RINGTRAIN_API std::optional<RestoredCheckpoint> restoreLatestCheckpoint(
    Runtime& runtime, const std::string& directory, torch::nn::Module& module,
    torch::optim::Optimizer& optimizer);

// The same for the optimizer of a DataParallel, sharded or not; the only ones for a sharded one.
// Saving is collective: rank 0 writes, and the other ranks send it their slices of the optimizer
// state, one at a time, so that no rank holds the whole state. Returns the path on rank 0, empty
// elsewhere; a failure throws on every rank (comm::CollectiveFailure). Restoring gives each rank
// its slices. A checkpoint resumes with or without sharding, at any number of ranks.
RINGTRAIN_API std::string saveCheckpoint(Runtime& runtime, DataParallel& parallel,
                                         const std::string& directory, int64_t step,
                                         torch::nn::Module& module,
                                         torch::optim::Optimizer& optimizer,
                                         const nlohmann::json& state = {}, int keep = 3);
RINGTRAIN_API std::optional<RestoredCheckpoint> restoreLatestCheckpoint(
    Runtime& runtime, DataParallel& parallel, const std::string& directory,
    torch::nn::Module& module, torch::optim::Optimizer& optimizer);

}  // namespace ringtrain
