#include "train/PipelineParallel.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <sstream>

#include "io/Safetensors.h"
#include "pipeline/Partition.h"
#include "pipeline/Schedule.h"
#include "pipeline/ScheduleCheck.h"
#include "ringtrain/comm/Agreement.h"
#include "ringtrain/util/Error.h"
#include "train/MixedPrecision.h"
#include "train/Optimizer.h"
#include "train/OptimizerState.h"

namespace ringtrain::train {
namespace {

int64_t parameterCount(const models::Layer& layer) {
  int64_t count = 0;
  if (layer.module) {
    for (const at::Tensor& parameter : layer.module->parameters()) count += parameter.numel();
  }
  return count;
}

// Stage `stage`'s layers of `model`, as `counts` cuts it.
std::vector<models::Layer> layersOfStage(const models::Classifier& model,
                                         const std::vector<int>& counts, int stage) {
  const auto first = std::accumulate(counts.begin(), counts.begin() + stage, 0);
  return {model.layers().begin() + first, model.layers().begin() + first + counts.at(stage)};
}

// In the order PipelineStage::parameters() lists them, which is the stage optimizer's order.
std::vector<at::Tensor> parameterTensors(const std::vector<models::Layer>& layers) {
  std::vector<at::Tensor> tensors;
  for (const models::Layer& layer : layers) {
    if (!layer.module) continue;
    for (const at::Tensor& parameter : layer.module->parameters()) tensors.push_back(parameter);
  }
  return tensors;
}

// Parameters and buffers, by their names in the whole model.
io::NamedTensors stageTensors(const std::vector<models::Layer>& layers) {
  io::NamedTensors tensors;
  for (const bool buffers : {false, true}) {
    for (const auto& [name, tensor] : pipeline::namedTensorsOf(layers, buffers)) {
      tensors.emplace_back(name, tensor.detach().to(at::kCPU));
    }
  }
  return tensors;
}

std::string shapeText(const std::vector<int64_t>& shape) {
  std::ostringstream text;
  text << c10::IntArrayRef(shape);
  return text.str();
}

}  // namespace

int resolveMicroBatches(const PipelineConfig& pipeline, int64_t batchSize) {
  if (pipeline.microBatches > 0) {
    RINGTRAIN_USER_CHECK(batchSize % pipeline.microBatches == 0,
                         "--batch-size " << batchSize << " does not divide into --micro-batches "
                                         << pipeline.microBatches
                                         << ": --batch-size counts one pipeline's samples, and "
                                            "every micro-batch has the same number of them");
    return pipeline.microBatches;
  }
  for (int64_t m = std::min<int64_t>(4 * pipeline.stages, batchSize); m > 1; --m) {
    if (batchSize % m == 0) return static_cast<int>(m);
  }
  return 1;
}

PipelineParallel::PipelineParallel(const TrainConfig& config, models::Classifier& model,
                                   const std::vector<int64_t>& sampleShape,
                                   comm::Communicator& control, comm::Communicator& data,
                                   c10::Device device)
    : config_(config), control_(control), device_(device) {
  // Local and the same on every rank, so a bad flag fails everywhere before any collective.
  const PipelineConfig& options = config.pipeline;
  grid_ = pipeline::PipelineGrid::forWorld(control.size(), options.stages);
  const int stage = grid_.stageOf(control.rank());
  replica_ = grid_.replicaOf(control.rank());
  microBatches_ = resolveMicroBatches(options, config.batchSize);
  std::vector<int64_t> weights;
  for (const models::Layer& layer : model.layers()) weights.push_back(parameterCount(layer));
  layerCounts_ = pipeline::partitionLayers(options.partition, weights, grid_.stages);
  for (int s = 0, first = 0; s < grid_.stages; first += layerCounts_[s++]) {
    const int64_t stageWeight =
        std::accumulate(weights.begin() + first, weights.begin() + first + layerCounts_[s], 0LL);
    RINGTRAIN_USER_CHECK(stageWeight > 0, "pipeline stage "
                                              << s << " (layers " << first << ".."
                                              << first + layerCounts_[s] - 1
                                              << ") would hold no parameters: choose another "
                                                 "--partition or fewer --pipeline-stages");
  }
  // In evaluation mode: the probe batch must not move BatchNorm's statistics (or trip its
  // one-sample check), nor draw dropout masks.
  const bool training = model.is_training();
  model.eval();
  const auto shapes =
      pipeline::boundaryShapes(model.layers(), sampleShape, at::TensorOptions(at::kFloat));
  model.train(training);
  const int first = std::accumulate(layerCounts_.begin(), layerCounts_.begin() + stage, 0);
  const int last = first + layerCounts_[stage] - 1;

  for (models::Layer layer : layersOfStage(model, layerCounts_, stage)) {
    if (layer.module) layer.module->to(device);
    if (config.precision != Precision::kFp32) {
      layer.forward = [inner = layer.forward, precision = config.precision,
                       type = device.type()](const at::Tensor& x) {
        const AutocastScope autocast(precision, type);
        return inner(x);
      };
    }
    layers_.push_back(std::move(layer));
  }

  // Every rank derived the plan from its own flags and model; a rank that got other flags
  // would exchange messages of other shapes.
  std::ostringstream plan;
  plan << grid_.stages << " stages, " << microBatches_ << " micro-batches, "
       << pipeline::scheduleName(options.schedule) << ", layers";
  for (const int count : layerCounts_) plan << " " << count;
  plan << ", boundaries";
  for (const auto& shape : shapes) plan << " " << shapeText(shape);
  // Every rank learns whether any differs and stops here, before the splits.
  const std::string rankZeroPlan = comm::broadcastString(control, plan.str(), 0);
  at::Tensor firstDiffering =
      at::full({1}, rankZeroPlan == plan.str() ? control.size() : control.rank(), at::kLong);
  control.allReduce(firstDiffering, comm::ReduceOp::kMin);
  const int64_t differing = firstDiffering.item<int64_t>();
  RINGTRAIN_USER_CHECK(differing == control.size(),
                       "rank " << differing << " made another pipeline plan than rank 0's '"
                               << rankZeroPlan << "'"
                               << (differing == control.rank() ? ": '" + plan.str() + "'" : "")
                               << "; start every rank with the same flags");

  pipe_ = data.split(/*color=*/replica_, /*key=*/stage);
  replicas_ = data.split(/*color=*/stage, /*key=*/replica_);
  replicaControl_ = control.split(/*color=*/stage, /*key=*/replica_);
  stage_ = std::make_unique<pipeline::PipelineStage>(layers_, stage, grid_.stages,
                                                     first == 0 ? sampleShape : shapes[first - 1],
                                                     shapes[last], *pipe_, options.checkMessages);
  schedule_ = pipeline::makeSchedule(options.schedule, grid_.stages, microBatches_)[stage];
}

double PipelineParallel::train(
    const data::Batch& batch, double lossFactor, const std::function<void(bool)>& beforeBackward,
    const std::function<at::Tensor(const at::Tensor&, const at::Tensor&)>& lossSum) {
  const int64_t samples = batch.labels.size(0);
  RINGTRAIN_CHECK(samples % microBatches_ == 0,
                  "a batch of " << samples << " samples for " << microBatches_ << " micro-batches");
  const int64_t size = samples / microBatches_;
  std::vector<at::Tensor> inputs;
  std::vector<at::Tensor> targets;
  // From pinned memory the copies do not hold the host; on the device they run in order on the
  // compute stream.
  if (stage_->first()) {
    for (const at::Tensor& part : batch.features.split(size)) {
      inputs.push_back(part.to(device_, part.is_pinned()));
    }
  }
  if (lastStage()) {
    for (const at::Tensor& part : batch.labels.split(size)) {
      targets.push_back(part.to(device_, part.is_pinned()));
    }
  }
  const auto loss = [lossFactor, &lossSum](const at::Tensor& output, const at::Tensor& target) {
    return lossSum(output, target) * lossFactor;
  };
  const pipeline::StageStep step =
      stage_->run(schedule_, size, inputs, targets, loss, beforeBackward);
  if (steps_++ > 0) {
    stepSeconds_ += step.seconds;
    computeSeconds_ += step.computeSeconds;
    waitSeconds_ += step.waitSeconds;
  }
  maxActivationsHeld_ = std::max(maxActivationsHeld_, step.maxActivationsHeld);
  return step.loss;
}

at::Tensor PipelineParallel::evaluate(const data::Batch& batch) {
  at::Tensor input;
  if (stage_->first()) input = batch.features.to(device_, batch.features.is_pinned());
  return stage_->forwardOnly(input, batch.labels.size(0));
}

void PipelineParallel::gatherToRankZero(models::Classifier& model) {
  const bool rankZero = control_.rank() == 0;
  std::map<std::string, at::Tensor> destinations;
  if (rankZero) {
    for (const auto& item : model.named_parameters())
      destinations.emplace(item.key(), item.value());
    for (const auto& item : model.named_buffers()) destinations.emplace(item.key(), item.value());
  }
  for (int stage = 1; stage < grid_.stages; ++stage) {
    const int source = grid_.rankOf(stage, 0);
    if (control_.rank() == source) {
      comm::sendString(control_, io::encodeSafetensors(stageTensors(layers_), {}), 0);
    }
    if (!rankZero) continue;
    const std::string origin = "stage " + std::to_string(stage) + "'s parameters";
    c10::NoGradGuard noGrad;
    for (auto& [name, tensor] :
         io::decodeSafetensors(comm::receiveString(control_, source), origin)) {
      destinations.at(name).copy_(tensor);
    }
  }
}

void PipelineParallel::streamOptimizerState(
    const models::Classifier& model, StateKind kind, const std::vector<bool>& stated,
    const std::function<void(const TensorSink*)>& stageState, const ByteSink* sink) {
  const bool rankZero = control_.rank() == 0;
  RINGTRAIN_CHECK(rankZero == (sink != nullptr), "the optimizer state is written by rank 0 only");
  // Every stage's parameters, as rank 0's copy of the model holds them, and which have state:
  // each stage's replica 0 marks its own.
  std::vector<ddp::NamedParameters> stages;
  for (int stage = 0; stage < grid_.stages; ++stage) {
    stages.push_back(pipeline::namedTensorsOf(layersOfStage(model, layerCounts_, stage), false));
  }
  const auto firstOf = [&stages](int stage) {
    size_t first = 0;
    for (int s = 0; s < stage; ++s) first += stages[s].size();
    return first;
  };
  at::Tensor marks = at::zeros({static_cast<int64_t>(firstOf(grid_.stages))}, at::kDouble);
  if (replica_ == 0) {
    RINGTRAIN_CHECK(stated.size() == stages[stage()].size(),
                    "one flag per parameter of the stage says whether it has optimizer state");
    double* marked = marks.mutable_data_ptr<double>() + firstOf(stage());
    for (size_t p = 0; p < stated.size(); ++p) marked[p] = stated[p] ? 1.0 : 0.0;
  }
  control_.allReduce(marks, comm::ReduceOp::kSum);
  const auto hasState = [&, marked = marks.const_data_ptr<double>()](int stage, size_t p) {
    return marked[firstOf(stage) + p] > 0;
  };
  if (rankZero) {
    ddp::NamedParameters withState;
    for (int stage = 0; stage < grid_.stages; ++stage) {
      for (size_t p = 0; p < stages[stage].size(); ++p) {
        if (hasState(stage, p)) withState.push_back(stages[stage][p]);
      }
    }
    const std::string header = stateFileHeader(kind, withState);
    (*sink)(header.data(), header.size());
  }
  const size_t fields = stateFieldNames(kind).size();
  for (int stage = 0; stage < grid_.stages; ++stage) {
    if (stage == this->stage()) {
      const TensorSink forward = [&](const at::Tensor& tensor) {
        if (rankZero) {
          writeTensor(tensor, *sink);
        } else {
          control_.send(tensor.to(at::kCPU).contiguous(), 0);
        }
      };
      stageState(replica_ == 0 ? &forward : nullptr);
    } else if (rankZero) {
      const int source = grid_.rankOf(stage, 0);
      for (size_t p = 0; p < stages[stage].size(); ++p) {
        if (!hasState(stage, p)) continue;
        const at::Tensor& parameter = stages[stage][p].second;
        for (size_t field = 0; field < fields; ++field) {
          at::Tensor received =
              at::empty(parameter.sizes(), parameter.options().requires_grad(false));
          control_.recv(received, source);
          writeTensor(received, *sink);
        }
        if (kind == StateKind::kAdamW) {
          at::Tensor step = stepTensor(0);
          control_.recv(step, source);
          writeTensor(step, *sink);
        }
      }
    }
  }
}

void PipelineParallel::takeStageState(torch::optim::Optimizer& wholeOptimizer,
                                      torch::optim::Optimizer& stageOptimizer) {
  // Through the archive, which also puts the state on this rank's device.
  const std::vector<at::Tensor> mine = parameterTensors(layers_);
  const auto part = makeOptimizer(config_, mine, config_.lr);
  copyParameterStates(wholeOptimizer, *part, mine);
  loadOptimizerBytes(stageOptimizer, optimizerBytes(*part), device_);
}

std::string PipelineParallel::describe() const {
  std::ostringstream text;
  text << grid_.stages << " stages x " << grid_.replicas << " replica(s) (rank = stage x "
       << grid_.replicas << " + replica), schedule "
       << pipeline::scheduleName(config_.pipeline.schedule) << ", " << microBatches_
       << " micro-batches of " << config_.batchSize / microBatches_ << ", layers per stage ";
  for (size_t s = 0; s < layerCounts_.size(); ++s) text << (s ? "+" : "") << layerCounts_[s];
  text << " (" << pipeline::describe(config_.pipeline.partition) << ")"
       << (config_.pipeline.checkMessages ? ", every message checked" : "");
  return text.str();
}

nlohmann::ordered_json PipelineParallel::report(comm::Communicator& control) const {
  const at::Tensor mine = at::tensor(
      {stepSeconds_, computeSeconds_, static_cast<double>(maxActivationsHeld_), waitSeconds_},
      at::kDouble);
  const at::Tensor all = control.allGather(mine).reshape({control.size(), 4});
  // Replica 0 speaks for its stage.
  std::vector<double> seconds, compute, waits;
  std::vector<int> held;
  for (int stage = 0; stage < grid_.stages; ++stage) {
    const at::Tensor row = all[grid_.rankOf(stage, 0)];
    seconds.push_back(row[0].item<double>());
    compute.push_back(row[1].item<double>());
    held.push_back(static_cast<int>(row[2].item<double>()));
    waits.push_back(row[3].item<double>());
  }
  // A stage's own pipeline phase ends with its last transfer, before its neighbours are done, so
  // every stage is measured over the longest phase: the pipeline's step, in which the busiest
  // stage idles least.
  const double longest = *std::max_element(seconds.begin(), seconds.end());
  const auto idleShare = [longest](double computeSeconds) {
    return longest > 0 ? 1.0 - computeSeconds / longest : 0.0;
  };
  std::vector<double> bubbles;
  for (const double stageCompute : compute) bubbles.push_back(idleShare(stageCompute));
  return {{"stages", grid_.stages},
          {"replicas", grid_.replicas},
          {"schedule", pipeline::scheduleName(config_.pipeline.schedule)},
          {"micro_batches", microBatches_},
          {"micro_batch_size", config_.batchSize / microBatches_},
          {"partition", pipeline::describe(config_.pipeline.partition)},
          {"layers_per_stage", layerCounts_},
          {"steps_measured", std::max<int64_t>(0, steps_ - 1)},
          {"bubble_theory", pipeline::theoreticalBubble(grid_.stages, microBatches_)},
          {"bubble_measured", idleShare(*std::max_element(compute.begin(), compute.end()))},
          {"pipeline_seconds", longest},
          {"bubble_per_stage", bubbles},
          {"compute_seconds_per_stage", compute},
          {"wait_seconds_per_stage", waits},
          {"max_activations_held", held}};
}

}  // namespace ringtrain::train
