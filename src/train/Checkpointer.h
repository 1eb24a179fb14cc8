// When and how a training run writes checkpoints and resumes from one.
//
// Rank 0 alone reads and writes checkpoint directories (the other ranks' model and optimizer are
// identical replicas), so the directory need not be shared between hosts; what rank 0 read
// reaches the other ranks over the control communicator. A checkpoint that cannot be written is
// a warning, not the end of the run: training goes on and the older checkpoints stay as they were.
//
// Which checkpoint a run continues (docs/outputs-and-checkpoints.md, "Which run a command
// continues"):
// - --resume auto continues the run that wrote the newest checkpoint only when the model, data and
//   learning settings are the same; with --output-dir or --checkpoint-dir given, any difference is
//   refused with the differences listed. Without them every run gets a new directory under runs/,
//   and an interrupted run in runs/latest is continued instead when it ran the very same command
//   (settings, length and batch) and no process is still running it.
// - --resume PATH continues that checkpoint with this command's learning settings (the changes
//   are listed in the log); the model and data must be the same.
// - --resume none starts over; checkpoints already in its directory are moved aside.
// A checkpoint past the end of the run is refused, and so is --resume auto on a finished run
// whose model is in the output directory: nothing would be trained and its outputs replaced.
#pragma once

#include <torch/optim/optimizer.h>

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint/CheckpointStore.h"
#include "ringtrain/comm/Communicator.h"
#include "ringtrain/models/Model.h"
#include "ringtrain/train/TrainConfig.h"
#include "train/OptimizerStateFile.h"
#include "train/RunLog.h"

namespace ringtrain::train {

// Where training stands after `step` optimizer steps: the first `samplesInEpoch` positions of
// epoch `epoch`'s global sample order were read, by ranks split as `layout` says.
struct TrainingPosition {
  int64_t step = 0;
  int64_t epoch = 0;
  int64_t samplesInEpoch = 0;
  nlohmann::json layout;      // world size, batch, accumulation
  nlohmann::json lossScaler;  // fp16's loss scale, or null
  bool finished = false;      // the run's last step: its planned end was reached
};

// Where a run writes, decided by rank 0 before anything is written.
struct RunPlace {
  std::string outputDir;
  std::string checkpointDir;
  bool fresh = false;  // a new directory under runs/, to be linked as runs/latest
  // Continuing the run whose records are in outputDir after this step (RunLog).
  std::optional<int64_t> continuesAfterStep;
  // For the log, once there is one.
  std::vector<std::string> notes;
  std::vector<std::string> warnings;
};

class Checkpointer {
 public:
  // `identity`: what a checkpoint must share with any run that resumes from it (model, data,
  // seed, ...); `settings`: what it must share with one that --resume auto continues
  // (RunSettings.h). Both compared key by key.
  Checkpointer(const TrainConfig& config, comm::Communicator& control, nlohmann::json identity,
               nlohmann::json settings);

  std::string directory() const { return directory_; }
  bool writes() const { return config_.checkpointEvery > 0; }
  bool dueAfter(int64_t step) const { return writes() && step % config_.checkpointEvery == 0; }

  // Rank 0: decides where the run writes and finds the checkpoint --resume asks for (the rules
  // above); UserError naming the differences when it must refuse. Local, so it may throw inside
  // runOnAllRanks. Other ranks get an empty place.
  RunPlace locate();
  // Every rank: rank 0's checkpoint, or nothing for a fresh start. Collective.
  std::optional<checkpoint::Checkpoint> share();
  // Every rank, after share(), with the run planned from the checkpoint's `step`: UserError when
  // the checkpoint lies past the run's end, or when --resume auto found this run at its end
  // with its model in `outputDir` (rank 0 checks that).
  void checkPosition(int64_t step, bool atTheEnd, bool pastTheEnd,
                     const std::string& outputDir) const;
  // Checks the checkpoint belongs to this run and loads it; UserError naming what differs.
  // `trainSamples` bounds the sample position a checkpoint may hold.
  // `optimizerDevice` as restoreTraining takes it.
  TrainingPosition restore(const checkpoint::Checkpoint& checkpoint, int64_t trainSamples,
                           models::Classifier& model, torch::optim::Optimizer& optimizer,
                           std::optional<c10::Device> optimizerDevice = std::nullopt) const;
  // Collective: rank 0 writes a checkpoint of the current state, streaming the optimizer's state
  // through `writeOptimizerState`, and prunes old ones. Every rank calls `writeOptimizerState`,
  // with a sink on rank 0 and none elsewhere, so that ranks holding parts of the state can send
  // them; no rank does when no checkpoint is written. Returns false on rank 0 (after a warning) if
  // it could not be written, or if the parameters are not finite: a diverged model never pushes
  // good checkpoints out.
  bool save(const TrainingPosition& position, models::Classifier& model,
            const std::function<void(const ByteSink*)>& writeOptimizerState, RunLog& log);

  int failures() const { return failures_; }
  int written() const { return written_; }
  // Rank 0: the checkpoint this run wrote last, or empty.
  const std::string& lastWritten() const { return lastWritten_; }

 private:
  // "\n  key: A there, B here" for what differs; the settings only when asked.
  std::string differencesFrom(const checkpoint::Checkpoint& checkpoint, bool withSettings) const;
  // --resume auto without --output-dir or --checkpoint-dir: runs/latest's checkpoint, if that run
  // was interrupted with the same settings; its directory becomes place.outputDir.
  std::optional<checkpoint::Checkpoint> continuableLatest(RunPlace& place) const;

  const TrainConfig& config_;
  comm::Communicator& control_;
  nlohmann::json identity_;
  nlohmann::json settings_;
  std::string directory_;
  std::optional<checkpoint::Checkpoint> found_;  // rank 0, after locate()
  bool foundAutomatically_ = false;              // rank 0: by --resume auto
  std::string resumedFrom_;                      // every rank, after share()
  int failures_ = 0;
  int written_ = 0;
  std::string lastWritten_;
};

}  // namespace ringtrain::train
