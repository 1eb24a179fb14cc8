// How one optimizer step's micro-batches become averaged gradients on this rank, chosen once at
// set-up: the whole model with a data-parallel reducer (DataParallelStep.cpp), the whole model with
// its optimizer state and gradients sharded over the ranks (ShardedStep.cpp, --zero 1 and 2), or
// this rank's stage of a pipeline (PipelineStep.cpp). The trainer's loop is the same for all: it
// asks the strategy for a step, then decides whether the update goes in. A new way of stepping is
// a new strategy, not branches in the loop.
#pragma once

#include <torch/optim/optimizer.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint/CheckpointStore.h"
#include "ddp/ParameterSync.h"
#include "ddp/Reducer.h"
#include "ringtrain/comm/Communicator.h"
#include "ringtrain/models/Model.h"
#include "ringtrain/train/TrainConfig.h"
#include "ringtrain/train/Trainer.h"
#include "train/Checkpointer.h"
#include "train/EpochInput.h"
#include "train/MixedPrecision.h"
#include "train/Objective.h"

namespace ringtrain::train {

struct StepOutcome {
  double loss = 0;                     // the step's mean loss, the same on every rank
  bool stopVoted = false;              // some rank received a stop signal
  std::optional<std::string> problem;  // what was not finite
  double gradNorm = 0;                 // the L2 norm of the averaged gradients, before clipping
};

// What every strategy is made from.
struct StepContext {
  const TrainConfig& config;
  const Objective& objective;
  comm::Communicator& control;  // all ranks, CPU
  comm::Communicator& data;     // all ranks, the device's
  c10::Device device;
  ddp::ReducerOptions reducer;
  LossScaler& scaler;
};

class StepStrategy {
 public:
  virtual ~StepStrategy() = default;

  // Forward and backward of the step's `microBatches` micro-batches from `input`, gradients
  // averaged over the replicas and unscaled (clipped too, where clipping needs the whole norm);
  // the samples read are added to `samples`.
  virtual StepOutcome step(EpochInput& input, int64_t microBatches, int64_t& samples) = 0;
  // The model's output for a validation batch (on the device), or an undefined tensor where this
  // rank has none: a pipeline's stages before the last pass activations on.
  virtual at::Tensor evaluate(const data::Batch& batch) = 0;
  // The optimizer's step at learning rate `lr`, once the step's update was admitted; afterwards
  // every rank's model holds the updated parameters.
  virtual void update(double lr);

  // Ranks holding the same parameters as this one (every rank, or this stage's replicas): on the
  // device, and on the CPU.
  virtual comm::Communicator& replicas() = 0;
  virtual comm::Communicator& replicaControl() = 0;

  // Loads `checkpoint` (written by a data-parallel or a pipeline run alike) into `model` and this
  // rank's optimizer; `trainSamples` bounds the position it may hold.
  virtual TrainingPosition restore(const Checkpointer& checkpointer,
                                   const checkpoint::Checkpoint& checkpoint,
                                   int64_t trainSamples) = 0;
  // Collective. Afterwards rank 0's model holds the whole model's state, as a data-parallel run has
  // it.
  virtual void gatherModel() = 0;
  // Collective: rank 0, given a sink, receives the whole model's optimizer state as a
  // checkpoint's optimizer.safetensors holds it, one tensor (or piece of one) at a time; the other
  // ranks, given none, send it their parts.
  virtual void writeOptimizerState(const ByteSink* sink) = 0;

  // For the start-up banner: the pipeline, and how the optimizer is sharded; empty where there is
  // none.
  virtual std::string describe() const { return {}; }
  virtual std::string describeSharding() const { return {}; }
  // Collective over `control`, for summary.json: "memory", the most bytes any rank holds for
  // parameters, gradients (between steps, and at the peak of a step) and optimizer state, and each
  // rank's peak resident size; and "pipeline", the pipeline's figures (null without one).
  nlohmann::ordered_json report(comm::Communicator& control) const;

  // The parameters and floating-point buffers this rank trains, their optimizer and reducer.
  const ddp::NamedParameters& parameters() const { return parameters_; }
  const ddp::NamedParameters& buffers() const { return buffers_; }
  const ddp::Reducer& reducer() const { return *reducer_; }
  virtual void zeroGradients() { reducer_->zeroGradients(); }

  // Running statistics (BatchNorm's) differ between replicas, which saw different samples; the
  // model keeps their mean over the replicas, taken before every evaluation and checkpoint (a
  // stopped run checkpoints, a finished one evaluates: model.safetensors has the mean either way).
  // Once a step: a checkpoint and a validation at the same step average them once, as a run
  // resumed from that checkpoint (whose buffers were averaged at `step`) has them.
  void averageBuffers(int64_t step);
  void buffersAveragedAt(int64_t step) { buffersAveragedAt_ = step; }

 protected:
  StepStrategy(const StepContext& context, models::Classifier& model)
      : context_(context), model_(model) {}
  // Called by the constructors once the parameters are where they train. Makes the reducer and,
  // without sharding, an optimizer over all of `parameters` (a sharded strategy makes its own).
  void trainThese(ddp::NamedParameters parameters, ddp::NamedParameters buffers, double baseLr,
                  ddp::GradientSharding sharding = ddp::GradientSharding::kNone);
  virtual nlohmann::ordered_json pipelineReport(comm::Communicator&) const { return nullptr; }
  // An optimizer over every parameter of the model, as a data-parallel run's: what checkpoints
  // hold.
  std::unique_ptr<torch::optim::Optimizer> wholeModelOptimizer() const;

  const StepContext context_;
  models::Classifier& model_;
  double baseLr_ = 0;
  ddp::NamedParameters parameters_;
  ddp::NamedParameters buffers_;
  int64_t buffersAveragedAt_ = -1;
  std::vector<at::Tensor> parameterTensors_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<ddp::Reducer> reducer_;
};

ddp::NamedParameters namedParameters(torch::nn::Module& model);
ddp::NamedParameters namedBuffers(torch::nn::Module& model);

// The strategies, and the choice between them: pipeline mode with --pipeline-stages > 1, sharded
// data parallelism with --zero 1 or 2 over two ranks or more, data parallelism otherwise.
// Collective. `baseLr` is the placeholder rate the optimizer starts with
// (every step sets its own).
std::unique_ptr<StepStrategy> makeDataParallelStep(const StepContext& context,
                                                   models::Classifier& model, double baseLr);
std::unique_ptr<StepStrategy> makeShardedStep(const StepContext& context, models::Classifier& model,
                                              double baseLr);
std::unique_ptr<StepStrategy> makePipelineStep(const StepContext& context,
                                               models::Classifier& model,
                                               const std::vector<int64_t>& sampleShape,
                                               double baseLr);
std::unique_ptr<StepStrategy> makeStepStrategy(const StepContext& context,
                                               models::Classifier& model,
                                               const std::vector<int64_t>& sampleShape,
                                               double baseLr);

}  // namespace ringtrain::train
