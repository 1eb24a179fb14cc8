// The training job: set up data, model and optimizer on every rank, keep the replicas identical
// (same initial parameters, averaged gradients), evaluate each epoch, and write the outputs.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ringtrain/Export.h"
#include "ringtrain/data/Dataset.h"
#include "ringtrain/models/Model.h"
#include "ringtrain/train/TrainConfig.h"

namespace ringtrain {
class Runtime;
}  // namespace ringtrain

namespace ringtrain::train {

struct RunSummary {
  int worldSize = 1;
  int64_t steps = 0;
  int64_t epochs = 0;
  double finalTrainLoss = 0;  // mean over the last epoch's steps
  double valLoss = 0;
  double valAccuracy = 0;
  int64_t validatedAtStep = -1;  // the model the val figures describe; -1: never measured
  double samplesPerSec = 0;      // global training samples / training time
  double tokensPerSec = 0;       // token data sets: samplesPerSec x the window's tokens
  double trainingSeconds = 0;
  double trainingCpuSeconds = 0;  // CPU time of the busiest rank's process while training
  double exposedCommSeconds = 0;  // slowest rank's wait for gradient communication
  double inputWaitSeconds = 0;    // slowest rank's wait for training batches
  double peakRssMib = 0;          // largest over ranks
  double heapFreeMib = 0;         // at the end, largest over ranks: resident but unused
  double wallSeconds = 0;
};

// The mean loss over a batch's targets, from the model's output and the labels: one per sample, or
// for a model that predicts every position of a token window (output [n, L, C], labels [n, L])
// one per position.
using LossFunction = std::function<at::Tensor(const at::Tensor& output, const at::Tensor& labels)>;
// A validation metric: its sum over a batch's targets (a scalar tensor).
using MetricSum = std::function<at::Tensor(const at::Tensor& output, const at::Tensor& labels)>;

// What a program using ringtrain as a library changes in the training job; each is optional.
struct TrainHooks {
  // Builds the model instead of --model, from the data's sample shape and class count (`spec`
  // carries them). Its layers() are what pipeline stages are cut from; saved as kind "custom".
  std::function<std::shared_ptr<models::Classifier>(const models::ModelSpec& spec)> makeModel;
  LossFunction loss;  // default: cross-entropy; also the validation loss
  // Reported as the mean over the validation set, as "val_<name>" in metrics.jsonl and under
  // "val_metrics" in summary.json.
  std::vector<std::pair<std::string, MetricSum>> metrics;
  // What `loss` and `metrics` compare the output with, made from a batch: its labels by default
  // (then validation also reports accuracy; a token data set's labels are [n, L], the window
  // shifted by one). An autoencoder compares with the features.
  std::function<at::Tensor(const data::Batch& batch)> target;
};

// The hooks of --model autoencoder: the target is the flattened features, the loss their mean
// squared error, and "reconstruction_error" (the same mean squared error) a validation metric.
RINGTRAIN_API TrainHooks reconstructionHooks();

// Trains as `ringtrain train` does, on the runtime's ranks and device, with the hooks' model,
// loss and metrics in place of the built-in ones: data, checkpoints and resumption, pipeline
// stages, metrics.jsonl and summary.json. Stop signals (SIGTERM, SIGINT, SIGUSR1) are caught from
// here on: the first makes every rank stop at the same step and write a checkpoint (and a later
// runTraining in the same process stop at its first step). Collective.
// A failure while setting up (bad flags or data, a hook that throws) throws
// comm::CollectiveFailure on every rank; one on a single rank during training ends the job as
// Runtime::abortAfterFailure does.
RINGTRAIN_API RunSummary runTraining(Runtime& runtime, const TrainConfig& config,
                                     const TrainHooks& hooks = {});

}  // namespace ringtrain::train
