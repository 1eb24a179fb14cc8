// Pipeline training against single-process training, in float64: every rank also holds the whole
// model and computes the whole global batch's loss and gradients by itself, and the pipeline's
// (P stages x D replicas, M micro-batches, either schedule) must match them to rounding. Runs
// every (P, D) with P x D equal to the world size and P >= 2.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/optim/sgd.h>

#include <map>

#include "BlockingPointToPoint.h"
#include "MpiTestEnvironment.h"
#include "ddp/Reducer.h"
#include "pipeline/Grid.h"
#include "pipeline/Partition.h"
#include "pipeline/Stage.h"
#include "ringtrain/models/Model.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::pipeline {
namespace {

constexpr int64_t kFeatures = 6;
constexpr int64_t kClasses = 3;
constexpr int64_t kMicroBatchSize = 3;

std::shared_ptr<models::Classifier> makeNetwork() {
  at::manual_seed(7);  // the same weights on every rank, whatever the stage
  models::ModelSpec spec;
  spec.hidden = {9, 8, 7, 5};  // five layers: up to five stages
  spec.inputShape = {kFeatures};
  spec.numClasses = kClasses;
  auto model = models::makeModel(spec);
  model->to(at::kDouble);
  return model;
}

std::map<std::string, at::Tensor> namedParameters(const models::Classifier& model) {
  std::map<std::string, at::Tensor> named;
  for (const auto& item : model.named_parameters()) named.emplace(item.key(), item.value());
  return named;
}

struct PipelineCase {
  int stages;
  int microBatches;
  ScheduleKind kind;
  bool checked = false;   // every message carries a header
  bool blocking = false;  // point-to-point transfers as NCCL makes them: no early receives
  std::string name() const {
    return scheduleName(kind) + " P=" + std::to_string(stages) +
           " M=" + std::to_string(microBatches) + (checked ? " checked" : "") +
           (blocking ? " blocking" : "");
  }
};

std::unique_ptr<comm::Communicator> pipeFor(const PipelineCase& setup, int replica, int stage) {
  std::unique_ptr<comm::Communicator> pipe = testing::worldCommunicator().split(replica, stage);
  if (!setup.blocking) return pipe;
  return std::make_unique<testing::BlockingPointToPoint>(std::move(pipe));
}

// One rank's part of a pipeline over the world.
class PipelineRank {
 public:
  explicit PipelineRank(const PipelineCase& setup)
      : setup_(setup),
        grid_(PipelineGrid::forWorld(testing::worldCommunicator().size(), setup.stages)),
        stage_(grid_.stageOf(testing::worldCommunicator().rank())),
        replica_(grid_.replicaOf(testing::worldCommunicator().rank())),
        pipe_(pipeFor(setup, replica_, stage_)),
        replicas_(testing::worldCommunicator().split(stage_, replica_)),
        model_(makeNetwork()) {
    const auto& layers = model_->layers();
    std::vector<int64_t> weights;
    for (const models::Layer& layer : layers) {
      int64_t count = 0;
      for (const auto& p : layer.module->parameters()) count += p.numel();
      weights.push_back(count);
    }
    const std::vector<int> counts = partitionLayers({}, weights, setup.stages);
    size_t begin = 0;
    for (int s = 0; s < stage_; ++s) begin += counts[s];
    const size_t end = begin + counts[stage_];
    const auto shapes = boundaryShapes(layers, {kFeatures}, at::TensorOptions(at::kDouble));
    stageRuntime_ = std::make_unique<PipelineStage>(
        std::vector<models::Layer>(layers.begin() + begin, layers.begin() + end), stage_,
        setup.stages, begin == 0 ? std::vector<int64_t>{kFeatures} : shapes[begin - 1],
        shapes[end - 1], *pipe_, setup.checked);
    ddp::ReducerOptions options;
    options.overlap = false;
    reducer_ = std::make_unique<ddp::Reducer>(*replicas_, stageRuntime_->parameters(), options);
  }

  // One forward and backward over the global batch (x, y): this replica takes its rows. Returns
  // the mean loss over the global batch as the pipeline computed it (on every rank).
  double step(const at::Tensor& x, const at::Tensor& y, int* maxHeld) {
    const int64_t perReplica = setup_.microBatches * kMicroBatchSize;
    std::vector<at::Tensor> inputs;
    std::vector<at::Tensor> targets;
    for (int m = 0; m < setup_.microBatches; ++m) {
      const int64_t from = replica_ * perReplica + m * kMicroBatchSize;
      if (stageRuntime_->first()) inputs.push_back(x.slice(0, from, from + kMicroBatchSize));
      if (stageRuntime_->last()) targets.push_back(y.slice(0, from, from + kMicroBatchSize));
    }
    // The mean over the replica's samples; the reducer's average over replicas completes the
    // mean over the global batch.
    const LossFunction loss = [&](const at::Tensor& output, const at::Tensor& target) {
      return at::cross_entropy_loss(output, target, {}, at::Reduction::Sum) /
             static_cast<double>(perReplica);
    };
    reducer_->zeroGradients();
    const auto schedule = makeSchedule(setup_.kind, setup_.stages, setup_.microBatches);
    const StageStep result =
        stageRuntime_->run(schedule[stage_], kMicroBatchSize, inputs, targets, loss,
                           [&](bool last) { reducer_->prepareForBackward(last); });
    reducer_->finishBackward(at::zeros({1}, at::kDouble));
    *maxHeld = result.maxActivationsHeld;
    at::Tensor total = at::full({1}, result.loss, at::kDouble);
    testing::worldCommunicator().allReduce(total, comm::ReduceOp::kSum);
    return total.item<double>() / grid_.replicas;
  }

  // The model's output for `x` through the pipeline's forward-only pass: on the last stage, the
  // rows of this replica's share; elsewhere undefined.
  at::Tensor evaluate(const at::Tensor& x) {
    const int64_t rows = x.size(0) / grid_.replicas;
    const at::Tensor mine = x.slice(0, replica_ * rows, (replica_ + 1) * rows);
    return stageRuntime_->forwardOnly(stageRuntime_->first() ? mine : at::Tensor(), rows);
  }

  int stage() const { return stage_; }
  int replica() const { return replica_; }
  bool last() const { return stageRuntime_->last(); }
  const ddp::NamedParameters parameters() const { return stageRuntime_->parameters(); }

 private:
  PipelineCase setup_;
  PipelineGrid grid_;
  int stage_;
  int replica_;
  std::unique_ptr<comm::Communicator> pipe_;
  std::unique_ptr<comm::Communicator> replicas_;
  std::shared_ptr<models::Classifier> model_;
  std::unique_ptr<PipelineStage> stageRuntime_;
  std::unique_ptr<ddp::Reducer> reducer_;
};

std::vector<PipelineCase> casesForThisWorld() {
  std::vector<PipelineCase> setups;
  const int world = testing::worldCommunicator().size();
  for (int stages = 2; stages <= world; ++stages) {
    if (world % stages != 0) continue;
    for (const int microBatches : {1, 2, 4}) {
      for (const ScheduleKind kind : {ScheduleKind::kGpipe, ScheduleKind::k1f1b}) {
        setups.push_back({stages, microBatches, kind});
        if (microBatches != 2) continue;
        for (const bool checked : {false, true}) {
          setups.push_back({stages, microBatches, kind, checked, true});
        }
        setups.push_back({stages, microBatches, kind, true, false});
      }
    }
  }
  return setups;
}

std::pair<at::Tensor, at::Tensor> globalBatch(int replicas, int microBatches, int seed) {
  at::manual_seed(seed);
  const int64_t rows = replicas * microBatches * kMicroBatchSize;
  return {at::randn({rows, kFeatures}, at::kDouble), at::randint(0, kClasses, {rows}, at::kLong)};
}

TEST(Pipeline, LossAndEveryGradientMatchSingleProcessTraining) {
  const std::vector<PipelineCase> setups = casesForThisWorld();
  if (setups.empty()) GTEST_SKIP() << "no pipeline of two or more stages fits this world";
  for (const PipelineCase& setup : setups) {
    PipelineRank rank(setup);
    const int replicas = testing::worldCommunicator().size() / setup.stages;
    const auto [x, y] = globalBatch(replicas, setup.microBatches, 11);

    const auto reference = makeNetwork();
    const at::Tensor referenceLoss = at::cross_entropy_loss(reference->forward(x), y);
    referenceLoss.backward();

    int maxHeld = 0;
    const double loss = rank.step(x, y, &maxHeld);
    EXPECT_NEAR(loss, referenceLoss.item<double>(), 1e-10 * std::abs(loss)) << setup.name();
    const auto expected = namedParameters(*reference);
    for (const auto& [name, parameter] : rank.parameters()) {
      const at::Tensor& want = expected.at(name).grad();
      EXPECT_TRUE(at::allclose(parameter.grad(), want, 1e-10, 1e-14))
          << setup.name() << ", " << name << ": largest difference "
          << (parameter.grad() - want).abs().max().item<double>();
    }
    // Activations held at once: all micro-batches for GPipe, at most the stages ahead for 1F1B.
    const int expectedHeld = setup.kind == ScheduleKind::kGpipe
                                 ? setup.microBatches
                                 : std::min(setup.stages - rank.stage(), setup.microBatches);
    EXPECT_EQ(maxHeld, expectedHeld) << setup.name() << ", stage " << rank.stage();
  }
}

TEST(Pipeline, WeightsAfterSeveralStepsMatchSingleProcessTraining) {
  const std::vector<PipelineCase> setups = casesForThisWorld();
  if (setups.empty()) GTEST_SKIP() << "no pipeline of two or more stages fits this world";
  for (const PipelineCase& setup : setups) {
    if (setup.microBatches != 2) continue;  // the step-by-step comparison covers the rest
    PipelineRank rank(setup);
    const int replicas = testing::worldCommunicator().size() / setup.stages;
    std::vector<at::Tensor> mine;
    for (const auto& item : rank.parameters()) mine.push_back(item.second);
    torch::optim::SGD optimizer(mine, torch::optim::SGDOptions(0.1).momentum(0.9));
    const auto reference = makeNetwork();
    torch::optim::SGD referenceOptimizer(reference->parameters(),
                                         torch::optim::SGDOptions(0.1).momentum(0.9));
    for (int step = 0; step < 4; ++step) {
      const auto [x, y] = globalBatch(replicas, setup.microBatches, 20 + step);
      int maxHeld = 0;
      rank.step(x, y, &maxHeld);
      optimizer.step();
      referenceOptimizer.zero_grad();
      at::cross_entropy_loss(reference->forward(x), y).backward();
      referenceOptimizer.step();
    }
    const auto expected = namedParameters(*reference);
    for (const auto& [name, parameter] : rank.parameters()) {
      EXPECT_TRUE(at::allclose(parameter, expected.at(name), 1e-10, 1e-14))
          << setup.name() << ", " << name;
    }
  }
}

TEST(Pipeline, ForwardOnlyPassGivesTheModelsOutput) {
  const std::vector<PipelineCase> setups = casesForThisWorld();
  if (setups.empty()) GTEST_SKIP() << "no pipeline of two or more stages fits this world";
  for (const PipelineCase& setup : setups) {
    if (setup.microBatches != 2) continue;  // the forward-only pass has no micro-batches
    PipelineRank rank(setup);
    const int replicas = testing::worldCommunicator().size() / setup.stages;
    // An odd number of rows per replica: evaluation batches need not divide into anything.
    at::manual_seed(5);
    const at::Tensor x = at::randn({replicas * 7, kFeatures}, at::kDouble);
    const at::Tensor output = rank.evaluate(x);
    EXPECT_EQ(output.defined(), rank.last()) << setup.name();
    if (!rank.last()) continue;
    c10::NoGradGuard noGrad;
    const at::Tensor expected =
        makeNetwork()->forward(x).slice(0, rank.replica() * 7, (rank.replica() + 1) * 7);
    EXPECT_TRUE(at::allclose(output, expected, 1e-12, 1e-14)) << setup.name();
  }
}

// Stage 1 expects activations of shape [3, 3] where stage 0 sends [9]: the same number of bytes,
// which a plain receive would take as they come.
TEST(Pipeline, CheckedMessagesCatchAShapeTheReceiverDidNotExpect) {
  comm::Communicator& world = testing::worldCommunicator();
  if (world.size() < 2) GTEST_SKIP() << "needs two ranks";
  const int stage = world.rank() < 2 ? world.rank() : -1;
  const auto pipe = world.split(stage >= 0 ? 0 : 1, world.rank());
  if (stage < 0) return;
  const auto model = makeNetwork();
  const auto& layers = model->layers();
  PipelineStage runtime({layers[stage]}, stage, 2,
                        stage == 0 ? std::vector<int64_t>{kFeatures} : std::vector<int64_t>{3, 3},
                        {stage == 0 ? 9 : 8}, *pipe, /*checkMessages=*/true);
  const at::Tensor x = at::randn({2, kFeatures}, at::kDouble);
  if (stage == 0) {
    EXPECT_FALSE(runtime.forwardOnly(x, 2).defined());
    return;
  }
  try {
    runtime.forwardOnly({}, 2);
    ADD_FAILURE() << "stage 1 took a message it did not expect";
  } catch (const UserError& error) {
    EXPECT_STREQ(error.what(),
                 "pipeline message mismatch: stage 0 sent activation of micro-batch 0 in step 1, "
                 "Double [2, 9]; stage 1 expected activation of micro-batch 0 in step 1, Double "
                 "[2, 3, 3] (do all ranks run the same model, --partition and --micro-batches?)");
  }
}

}  // namespace
}  // namespace ringtrain::pipeline
