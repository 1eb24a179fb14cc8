// When and how a training run writes checkpoints and resumes from one.
//
// Rank 0 alone reads and writes checkpoint directories (the other ranks' model and optimizer are
// identical replicas), so the directory need not be shared between hosts; what rank 0 read
// reaches the other ranks over the control communicator. A checkpoint that cannot be written is
// a warning, not the end of the run: training goes on and the older checkpoints stay as they were.
#pragma once

#include <torch/optim/optimizer.h>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "ringtrain/checkpoint/CheckpointStore.h"
#include "ringtrain/comm/Communicator.h"
#include "ringtrain/models/Model.h"
#include "ringtrain/train/RunLog.h"
#include "ringtrain/train/TrainConfig.h"

namespace ringtrain::train {

// Where training stands after `step` optimizer steps: the first `samplesInEpoch` positions of
// epoch `epoch`'s global sample order were read, by ranks split as `layout` says.
struct TrainingPosition {
  int64_t step = 0;
  int64_t epoch = 0;
  int64_t samplesInEpoch = 0;
  nlohmann::json layout;      // world size, batch, accumulation
  nlohmann::json lossScaler;  // fp16's loss scale, or null
};

class Checkpointer {
 public:
  // `identity`: the settings a checkpoint must share with the run that resumes from it (model,
  // data size, batch, seed, ...), compared key by key.
  Checkpointer(const TrainConfig& config, comm::Communicator& control, nlohmann::json identity);

  std::string directory() const { return directory_; }
  bool writes() const { return config_.checkpointEvery > 0; }
  bool dueAfter(int64_t step) const { return writes() && step % config_.checkpointEvery == 0; }

  // Rank 0: finds the checkpoint --resume asks for. Local, so it may throw inside runOnAllRanks.
  void locate(RunLog& log);
  // Every rank: rank 0's checkpoint, or nothing for a fresh start. Collective.
  std::optional<checkpoint::Checkpoint> share();
  // Checks the checkpoint belongs to this run and loads it; UserError naming what differs.
  // `trainSamples` bounds the sample position a checkpoint may hold.
  // `optimizerDevice` as restoreTraining takes it.
  TrainingPosition restore(const checkpoint::Checkpoint& checkpoint, int64_t trainSamples,
                           models::Classifier& model, torch::optim::Optimizer& optimizer,
                           std::optional<c10::Device> optimizerDevice = std::nullopt) const;
  // Rank 0 writes a checkpoint of the current state and prunes old ones; other ranks do nothing.
  // Returns false (after a warning) if it could not be written, or if the parameters are not
  // finite: a diverged model never pushes good checkpoints out.
  bool save(const TrainingPosition& position, models::Classifier& model,
            torch::optim::Optimizer& optimizer, RunLog& log);

  int failures() const { return failures_; }
  int written() const { return written_; }
  // Rank 0: the checkpoint this run wrote last, or empty.
  const std::string& lastWritten() const { return lastWritten_; }

 private:
  const TrainConfig& config_;
  comm::Communicator& control_;
  nlohmann::json identity_;
  std::string directory_;
  std::optional<checkpoint::Checkpoint> found_;  // rank 0, after locate()
  int failures_ = 0;
  int written_ = 0;
  std::string lastWritten_;
};

}  // namespace ringtrain::train
