#include "ringtrain/Checkpoints.h"

#include "checkpoint/CheckpointStore.h"
#include "ringtrain/comm/Agreement.h"
#include "ringtrain/util/Error.h"
#include "train/TrainingCheckpoint.h"

namespace ringtrain {

std::string saveCheckpoint(const std::string& directory, int64_t step, torch::nn::Module& module,
                           torch::optim::Optimizer& optimizer, const nlohmann::json& state,
                           int keep) {
  RINGTRAIN_USER_CHECK(keep >= 1, "saveCheckpoint: keep must be at least 1, got " << keep);
  checkpoint::CheckpointWriter writer(directory, step);
  train::writeTraining(writer, module, optimizer);
  const std::string path = writer.commit(state);
  checkpoint::pruneCheckpoints(directory, keep);
  return path;
}

std::optional<RestoredCheckpoint> restoreLatestCheckpoint(Runtime& runtime,
                                                          const std::string& directory,
                                                          torch::nn::Module& module,
                                                          torch::optim::Optimizer& optimizer) {
  // Rank 0 chooses, so that no rank resumes from another step than the others.
  std::string chosen;
  runtime.onAllRanks([&] {
    if (!runtime.isRankZero()) return;
    if (const auto found = checkpoint::latestCheckpoint(directory)) chosen = found->path;
  });
  chosen = comm::broadcastString(runtime.controlCommunicator(), chosen, 0);
  if (chosen.empty()) return std::nullopt;
  std::optional<RestoredCheckpoint> restored;
  runtime.onAllRanks([&] {
    const checkpoint::Checkpoint found = checkpoint::readCheckpoint(chosen);
    train::restoreTraining(found.files, found.path, module, optimizer);
    restored = RestoredCheckpoint{found.path, found.step, found.state};
  });
  return restored;
}

}  // namespace ringtrain
