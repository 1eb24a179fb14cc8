// Pipeline mode inside the training job (--pipeline-stages P): this rank's place in the P x D
// grid, its stage of the model, the communicators that go with it, and the collective steps that
// make a pipeline run look like a data-parallel one from outside: validation through all stages,
// the whole model assembled on rank 0 for checkpoints and model.safetensors, and the optimizer
// state streamed to rank 0 in the layout a data-parallel run writes.
#pragma once

#include <torch/optim/optimizer.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/SampleSource.h"
#include "ddp/ParameterSync.h"
#include "pipeline/Grid.h"
#include "pipeline/Stage.h"
#include "ringtrain/comm/Communicator.h"
#include "ringtrain/models/Model.h"
#include "ringtrain/train/TrainConfig.h"
#include "train/OptimizerStateFile.h"

namespace ringtrain::train {

// --micro-batches for a batch of `batchSize` samples: the given count (UserError unless it
// divides the batch), or by default the largest divisor of the batch up to 4 x stages.
int resolveMicroBatches(const PipelineConfig& pipeline, int64_t batchSize);

class PipelineParallel {
 public:
  // Collective over `control` (CPU, all ranks) and `data` (the device's, all ranks): checks the
  // grid, cuts `model` into stages, moves this rank's stage to `device`, splits the
  // communicators, and makes sure every rank derived the same plan. UserError for a world that
  // P does not divide, a batch that M does not divide, or a model with fewer layers than stages.
  PipelineParallel(const TrainConfig& config, models::Classifier& model,
                   const std::vector<int64_t>& sampleShape, comm::Communicator& control,
                   comm::Communicator& data, c10::Device device);

  const pipeline::PipelineGrid& grid() const { return grid_; }
  int stage() const { return stage_->stage(); }
  int replica() const { return replica_; }
  bool lastStage() const { return stage_->last(); }
  int microBatches() const { return microBatches_; }
  // This stage's parameters, named as in the whole model.
  ddp::NamedParameters parameters() const { return stage_->parameters(); }
  ddp::NamedParameters buffers() const { return stage_->buffers(); }
  // This stage's D replicas: on the device, for the reducer, and on the CPU.
  comm::Communicator& replicas() { return *replicas_; }
  comm::Communicator& replicaControl() { return *replicaControl_; }

  // Forward and backward of one batch cut into micro-batches. `lossFactor` multiplies every
  // target's loss (1 / the targets of the step, times a loss scale). Returns the sum of the
  // factored losses on the last stage, 0 elsewhere. `lossSum` (output, targets) -> the summed loss
  // of a micro-batch.
  double train(const data::Batch& batch, double lossFactor,
               const std::function<void(bool)>& beforeBackward,
               const std::function<at::Tensor(const at::Tensor&, const at::Tensor&)>& lossSum);
  // A validation batch through all stages: [loss sum, correct, samples] on the last stage,
  // zeros elsewhere (float64, on the device).
  at::Tensor evaluate(const data::Batch& batch);

  // Collective over `control`: the parameters and buffers of every stage land in rank 0's
  // `model`.
  void gatherToRankZero(models::Classifier& model);
  // Collective over `control`: the whole model's optimizer state, as optimizer.safetensors holds
  // it (OptimizerStateFile.h), into rank 0's `sink` (null elsewhere), stage after stage, so that
  // rank 0 holds one tensor of another stage at a time. Every rank of a stage calls
  // `stageState`: its replica 0 is given a sink for the stage's tensors in the file's order (for
  // each of parameters() with state, its fields, then AdamW's step); the other replicas, given
  // none, help it (a sharded stage's send it their pieces). `stated` (on replica 0: one flag per
  // parameters()) says which have state.
  void streamOptimizerState(const models::Classifier& model, StateKind kind,
                            const std::vector<bool>& stated,
                            const std::function<void(const TensorSink*)>& stageState,
                            const ByteSink* sink);
  // `stageOptimizer` takes this stage's part of `wholeOptimizer` (over all of the model's
  // parameters, e.g. restored from a checkpoint), its state on this rank's device.
  void takeStageState(torch::optim::Optimizer& wholeOptimizer,
                      torch::optim::Optimizer& stageOptimizer);

  // For the start-up banner: "2 stages x 1 replica, 1f1b, 8 micro-batches of 8, layers 2+1".
  std::string describe() const;
  // Collective over `control`: the plan, and the measured bubble and activations held,
  // worst over stages, for summary.json.
  nlohmann::ordered_json report(comm::Communicator& control) const;

 private:
  const TrainConfig& config_;
  comm::Communicator& control_;
  c10::Device device_;
  pipeline::PipelineGrid grid_;
  int replica_ = 0;
  int microBatches_ = 1;
  std::vector<int> layerCounts_;
  std::vector<models::Layer> layers_;  // this stage's
  std::unique_ptr<comm::Communicator> pipe_;
  std::unique_ptr<comm::Communicator> replicas_;
  std::unique_ptr<comm::Communicator> replicaControl_;
  std::unique_ptr<pipeline::PipelineStage> stage_;
  pipeline::StageSchedule schedule_;
  // Measured over the steps after the first (which warms caches and allocators).
  int64_t steps_ = 0;
  double stepSeconds_ = 0;
  double computeSeconds_ = 0;
  double waitSeconds_ = 0;
  int maxActivationsHeld_ = 0;
};

}  // namespace ringtrain::train
