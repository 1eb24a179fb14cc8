#include "ringtrain/Checkpoints.h"

#include <functional>

#include "DataParallelInternals.h"
#include "checkpoint/CheckpointStore.h"
#include "ringtrain/comm/Agreement.h"
#include "ringtrain/util/Error.h"
#include "train/ShardedOptimizerState.h"
#include "train/TrainingCheckpoint.h"

namespace ringtrain {
namespace {

// Rank 0 picks the newest checkpoint that verifies, so that no rank resumes from another step than
// the others; empty when there is none.
std::string chooseLatest(Runtime& runtime, const std::string& directory) {
  std::string chosen;
  runtime.onAllRanks([&] {
    if (!runtime.isRankZero()) return;
    if (const auto found = checkpoint::latestCheckpoint(directory)) chosen = found->path;
  });
  return comm::broadcastString(runtime.controlCommunicator(), chosen, 0);
}

train::StateKind shardedKindOf(const torch::optim::Optimizer& optimizer) {
  const std::optional<train::StateKind> kind = train::stateKindOf(optimizer);
  RINGTRAIN_USER_CHECK(kind,
                       "a sharded DataParallel checkpoints the state of SGD or AdamW only "
                       "(torch::optim::SGD, torch::optim::AdamW)");
  return *kind;
}

// Writes the checkpoint of `step`, its files from `write`, then keeps the newest `keep`.
std::string writeAndPrune(const std::string& directory, int64_t step, const nlohmann::json& state,
                          int keep,
                          const std::function<void(checkpoint::CheckpointWriter&)>& write) {
  RINGTRAIN_USER_CHECK(keep >= 1, "saveCheckpoint: keep must be at least 1, got " << keep);
  checkpoint::CheckpointWriter writer(directory, step);
  write(writer);
  const std::string path = writer.commit(state);
  checkpoint::pruneCheckpoints(directory, keep);
  return path;
}

}  // namespace

std::string saveCheckpoint(const std::string& directory, int64_t step, torch::nn::Module& module,
                           torch::optim::Optimizer& optimizer, const nlohmann::json& state,
                           int keep) {
  return writeAndPrune(directory, step, state, keep, [&](checkpoint::CheckpointWriter& writer) {
    train::writeTraining(writer, module, optimizer);
  });
}

std::optional<RestoredCheckpoint> restoreLatestCheckpoint(Runtime& runtime,
                                                          const std::string& directory,
                                                          torch::nn::Module& module,
                                                          torch::optim::Optimizer& optimizer) {
  const std::string chosen = chooseLatest(runtime, directory);
  if (chosen.empty()) return std::nullopt;
  std::optional<RestoredCheckpoint> restored;
  runtime.onAllRanks([&] {
    const checkpoint::Checkpoint found = checkpoint::readCheckpoint(chosen);
    train::restoreTraining(found.files, found.path, module, optimizer);
    restored = RestoredCheckpoint{found.path, found.step, found.state};
  });
  return restored;
}

std::string saveCheckpoint(Runtime& runtime, DataParallel& parallel, const std::string& directory,
                           int64_t step, torch::nn::Module& module,
                           torch::optim::Optimizer& optimizer, const nlohmann::json& state,
                           int keep) {
  train::ShardedOptimizer* sharded = DataParallelInternals::sharded(parallel);
  std::string path;
  runtime.onAllRanks([&] {
    RINGTRAIN_USER_CHECK(keep >= 1, "saveCheckpoint: keep must be at least 1, got " << keep);
    if (sharded) shardedKindOf(optimizer);
    if (!runtime.isRankZero()) {
      if (sharded) sharded->writeState(optimizer, nullptr);
      return;
    }
    if (!sharded) {
      path = saveCheckpoint(directory, step, module, optimizer, state, keep);
      return;
    }
    // The writer keeps a failure until commit, so the other ranks' pieces are taken either way.
    path = writeAndPrune(directory, step, state, keep, [&](checkpoint::CheckpointWriter& writer) {
      train::writeTraining(writer, module, [&](const train::ByteSink& sink) {
        sharded->writeState(optimizer, &sink);
      });
    });
  });
  return path;
}

std::optional<RestoredCheckpoint> restoreLatestCheckpoint(Runtime& runtime, DataParallel& parallel,
                                                          const std::string& directory,
                                                          torch::nn::Module& module,
                                                          torch::optim::Optimizer& optimizer) {
  train::ShardedOptimizer* sharded = DataParallelInternals::sharded(parallel);
  if (!sharded) return restoreLatestCheckpoint(runtime, directory, module, optimizer);
  const std::string chosen = chooseLatest(runtime, directory);
  if (chosen.empty()) return std::nullopt;
  std::optional<RestoredCheckpoint> restored;
  runtime.onAllRanks([&] {
    // The whole state on the CPU first; then this rank's slices go to its device.
    const auto whole = train::stateHolder(shardedKindOf(optimizer), module.parameters());
    const checkpoint::Checkpoint found = checkpoint::readCheckpoint(chosen);
    train::restoreTraining(found.files, found.path, module, *whole, c10::Device(c10::kCPU));
    sharded->takeState(*whole, optimizer);
    restored = RestoredCheckpoint{found.path, found.step, found.state};
  });
  return restored;
}

}  // namespace ringtrain
