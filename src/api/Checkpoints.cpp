#include "ringtrain/Checkpoints.h"

#include "ringtrain/checkpoint/CheckpointStore.h"
#include "ringtrain/train/TrainingCheckpoint.h"
#include "ringtrain/util/Error.h"
#include "ringtrain/util/Files.h"

namespace ringtrain {

std::string saveCheckpoint(const std::string& directory, int64_t step, torch::nn::Module& module,
                           torch::optim::Optimizer& optimizer, const nlohmann::json& state,
                           int keep) {
  RINGTRAIN_USER_CHECK(keep >= 1, "saveCheckpoint: keep must be at least 1, got " << keep);
  makeDirectories(directory);
  const std::string path = checkpoint::writeCheckpoint(directory, step, state,
                                                       train::snapshotTraining(module, optimizer));
  checkpoint::pruneCheckpoints(directory, keep);
  return path;
}

std::optional<RestoredCheckpoint> restoreLatestCheckpoint(const std::string& directory,
                                                          torch::nn::Module& module,
                                                          torch::optim::Optimizer& optimizer) {
  const std::optional<checkpoint::Checkpoint> found = checkpoint::latestCheckpoint(directory);
  if (!found) return std::nullopt;
  train::restoreTraining(found->files, found->path, module, optimizer);
  return RestoredCheckpoint{found->path, found->step, found->state};
}

}  // namespace ringtrain
