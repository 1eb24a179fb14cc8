// The training job, top to bottom:
// clang-format off
//   setUp()            every rank: flags, data, model; all succeed or fail together
//   setUpStrategy()    how this rank steps (StepStrategy.h: data parallelism, or its pipeline
//                      stage), with its parameters, optimizer and reducer
//   resume()           rank 0's checkpoint, if --resume finds one, restored on every rank
//   plan               the run's length from where it starts (RunPlan.h)
//   synchronize        same parameter names and shapes everywhere, then rank 0's values (each
//                      stage's replica 0's in a pipeline)
//   TRAINING SECTION   per optimizer step: the strategy's micro-batches forward/backward with
//                      gradients averaged, the update guard's verdict (UpdateGuard.h), learning
//                      rate, optimizer step; then a checkpoint when due or when a stop was agreed
//   evaluate()         every epoch or --val-every steps, on every rank (Validation.h)
//   finish()           rank 0 writes model.safetensors and summary.json (RunReport.h)
// clang-format on
#include "train/TrainingJob.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <limits>

#include "Evaluator.h"
#include "RunDirectory.h"
#include "RunPlan.h"
#include "RunReport.h"
#include "RunSettings.h"
#include "RunTrace.h"
#include "StepStrategy.h"
#include "TrainSetup.h"
#include "UpdateGuard.h"
#include "Validation.h"
#include "health/Progress.h"
#include "pipeline/Grid.h"
#include "platform/Resources.h"
#include "platform/StopSignals.h"
#include "ringtrain/comm/Agreement.h"
#include "ringtrain/data/DistributedSampler.h"
#include "ringtrain/util/Error.h"
#include "train/LrSchedule.h"
#include "train/ModelFile.h"
#include "util/Files.h"

namespace ringtrain::train {
namespace {

using Clock = std::chrono::steady_clock;
using ordered_json = nlohmann::ordered_json;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

class Trainer {
 public:
  Trainer(const TrainConfig& config, const Communicators& communicators,
          const platform::Placement& placement, const TrainHooks& hooks)
      : config_(withImpliedSettings(config, placement, communicators.control.rank() == 0)),
        hooks_(hooks),
        objective_(hooks_),
        requestedDropLast_(config.dropLast),
        reducerOptions_(resolveReducerOptions(config_, communicators.data, placement)),
        control_(communicators.control),
        host_(communicators.host),
        data_(communicators.data),
        device_(placement.device),
        guard_(config_, communicators.control.rank() == 0) {}

  RunSummary run() {
    const auto start = Clock::now();
    comm::runOnAllRanks(control_, [&] { setUp(); });
    // Apart from setUp(), whose work is local: the strategy's communicators are collective.
    comm::runOnAllRanks(control_, [&] { setUpStrategy(); });
    resume();
    if (hostSharded()) checkHostsAlike(control_);
    plan_ = planRun(config_, start_.epoch, step_,
                    agreedEpochSteps(config_, control_, sharers(), trainingData_, start_),
                    start_.finished);
    acceptStart(config_, control_, *checkpointer_, plan_, {place_, start_, resumedFrom_}, *log_);
    schedule_.totalSteps = plan_.scheduledSteps;
    // A stage's replicas start from its replica 0's values, as data-parallel ranks from rank 0's.
    ddp::verifySameParameters(strategy_->replicaControl(), strategy_->parameters());
    ddp::broadcastParameters(strategy_->replicas(), strategy_->parameters());
    ddp::broadcastParameters(strategy_->replicas(), strategy_->buffers());
    log_->info(banner(facts(), *model_));

    double trainingSeconds = 0;
    meter_ = meterFor(facts(), control_, *log_);
    bool evaluated = false;
    for (int64_t epoch = start_.epoch; epoch < plan_.epochsToRun && !finished(); ++epoch) {
      const auto epochStart = Clock::now();
      const double cpuStart = platform::processCpuSeconds();
      const double validatingBefore = validation_->seconds();
      const double validatingCpuBefore = validation_->cpuSeconds();
      trainEpoch(epoch, epoch == start_.epoch ? start_.samplesInEpoch : 0);
      evaluated = true;
      // Validation inside the epoch (--val-every) is not training time.
      trainingSeconds += secondsSince(epochStart) - (validation_->seconds() - validatingBefore);
      trainingCpuSeconds_ += platform::processCpuSeconds() - cpuStart -
                             (validation_->cpuSeconds() - validatingCpuBefore);
      const bool lastEpoch = finished() || epoch + 1 == plan_.epochsToRun;
      if (!stopRequested_ && validation_->dueAfterEpoch(lastEpoch, step_)) evaluate(epoch);
    }
    // Resumed with nothing left to train.
    if (!evaluated && !stopRequested_) evaluate(start_.epoch);
    // The run's end, marked, outside the time of training (a stop wrote its own).
    if (!stopRequested_ && step_ > start_.step) saveCheckpoint(reached_, /*finished=*/true);
    recordTimes(meter_.globalSamples(), trainingSeconds, secondsSince(start), tokensPerSample(),
                summary_);
    finish();
    return summary_;
  }

 private:
  bool isRankZero() const { return control_.rank() == 0; }
  bool hostSharded() const { return config_.sharding == DataSharding::kHost; }
  bool finished() const { return step_ >= plan_.totalSteps || stopRequested_; }
  int64_t tokensPerSample() const { return trainTokensPerSample(trainingData_); }
  data::PrefetchOptions prefetch() const {
    return prefetchOptions(config_, device_,
                           trainingData_.train && trainingData_.train->readsFromDisk());
  }
  // The ranks that deal out the training samples between them, and this rank's place among them:
  // a pipeline's stages read the same samples.
  int sharers() const { return hostSharded() ? control_.topology().localSize : grid_.replicas; }
  int sharerRank() const {
    return hostSharded() ? control_.topology().localRank : grid_.replicaOf(control_.rank());
  }
  // Model replicas: ranks, or whole pipelines.
  int dataReplicas() const { return grid_.replicas; }

  void setUp() {
    validateConfig(config_);
    grid_ = pipeline::PipelineGrid::forWorld(control_.size(), config_.pipeline.stages);
    trainingData_ = loadTrainingData(config_, sharers());
    const bool pipelined = config_.pipeline.stages > 1;
    RINGTRAIN_USER_CHECK(!pipelined || trainingData_.train,
                         "--pipeline-stages does not read streams (pipe:): every stage must "
                         "see the same batches");
    modelSpec_ = modelSpecFor(config_, trainingData_, hooks_);
    at::manual_seed(config_.seed);
    model_ = hooks_.makeModel ? hooks_.makeModel(modelSpec_) : models::makeModel(modelSpec_);
    RINGTRAIN_CHECK(model_ && !model_->layers().empty(),
                    "TrainHooks::makeModel returned no model, or one without layers");
    checkTargets(modelSpec_, *model_, trainingData_, hooks_);
    objective_ = Objective(hooks_, model_->predictsEveryPosition());
    // Only the values of rank 0 (of each stage's replica 0 in a pipeline) matter: they are
    // broadcast to the others.
    if (!config_.initFrom.empty() && (isRankZero() || pipelined)) {
      loadInitialWeights(config_.initFrom, *model_, modelSpec_);
    }
    checkpointer_ = std::make_unique<Checkpointer>(
        config_, control_,
        runIdentity(config_, requestedDropLast_, modelSpec_, *model_, trainingData_),
        resumeSettingsOf(config_));
    place_ = checkpointer_->locate();

    log_ = openRunLog(place_, isRankZero(), config_);
    for (const std::string& warning : trainingData_.warnings) log_->warn(warning);
    if (isRankZero()) marker_ = std::make_unique<RunMarker>(place_.outputDir);
    validation_ = std::make_unique<Validation>(
        config_, EvaluationInput{trainingData_.validation, sharers(), sharerRank(), prefetch()});
  }

  void setUpStrategy() {
    schedule_.baseLr = config_.scaleLr ? config_.lr * dataReplicas() : config_.lr;
    schedule_.shape = config_.lrShape;
    schedule_.warmupSteps = config_.warmupSteps;
    strategy_ = makeStepStrategy(
        {config_, objective_, control_, data_, device_, reducerOptions_, guard_.scaler()}, *model_,
        modelSpec_.inputShape, schedule_.baseLr);
  }

  void resume() {
    const std::optional<checkpoint::Checkpoint> resumed = checkpointer_->share();
    if (!resumed) return;
    comm::runOnAllRanks(control_, [&] {
      // A host's own files may differ after a restart: its position is clamped to them.
      const int64_t bound = hostSharded() || !trainingData_.train
                                ? std::numeric_limits<int64_t>::max()
                                : trainingData_.train->size();
      start_ = strategy_->restore(*checkpointer_, *resumed, bound);
      strategy_->buffersAveragedAt(start_.step);  // when the checkpoint was written
      guard_.scaler().restore(start_.lossScaler);
      resumedFrom_ = resumed->path;
    });
    step_ = start_.step;
  }

  std::unique_ptr<EpochInput> openEpoch(int64_t epoch, int64_t firstSample) {
    return train::openEpoch({config_, modelSpec_, trainingData_, sharers(), sharerRank(),
                             start_.epoch, control_, host_, device_, prefetch()},
                            epoch, firstSample);
  }

  // ---------------------------------- TRAINING SECTION BEGIN ----------------------------------
  void trainEpoch(int64_t epoch, int64_t firstSample) {
    const std::unique_ptr<EpochInput> input = openEpoch(epoch, firstSample);
    // Steps of this epoch that came before, as this run would count them: for the progress bar.
    const std::optional<int64_t> stepsLeft = input->stepsLeft();
    const int64_t stepsBefore =
        stepsLeft ? std::max<int64_t>(0, plan_.stepsPerEpoch - *stepsLeft) : 0;
    model_->train();
    meter_.startEpoch();
    for (int64_t stepHere = 0; !finished(); ++stepHere) {
      const int64_t microBatches = beginTrainingStep(*input, step_ + 1);
      if (microBatches == 0) break;
      strategy_->zeroGradients();
      int64_t stepSamples = 0;
      const StepOutcome outcome = strategy_->step(*input, microBatches, stepSamples);
      const double lr = learningRateAt(schedule_, step_);
      const bool applied = guard_.admit(outcome, step_ + 1, epoch, *log_, [&] {
        const std::string& written = checkpointer_->lastWritten();
        return written.empty() ? resumedFrom_ : written;
      });
      if (applied) strategy_->update(lr);
      ++step_;
      // ------------------------------- TRAINING SECTION END -------------------------------

      meter_.add(outcome, applied, stepSamples * dataReplicas());
      const std::optional<double> windowLoss = meter_.windowLoss();
      if (log_->showsProgress() && windowLoss && stepsLeft) {
        log_->progress(epoch + 1, plan_.epochsToRun, stepsBefore + stepHere + 1,
                       stepsBefore + *stepsLeft, *windowLoss);
      }
      // Identical on every rank, so all stop after the same step.
      if (outcome.stopVoted) stopRequested_ = true;
      if (step_ % config_.logEvery == 0 || finished()) {
        if (const auto entry = meter_.takeWindow(step_, epoch, lr)) log_->record(*entry);
      }
      // The last step's checkpoint comes after the loop, with the run's end marked.
      if ((checkpointer_->dueAfter(step_) && step_ < plan_.totalSteps) || stopRequested_) {
        saveCheckpoint({epoch, input->position()}, /*finished=*/step_ >= plan_.totalSteps);
      }
      if (stopRequested_) {
        stopReason_ = agreeOnStop(control_, step_, plan_.totalSteps, *log_);
      }
      if (validation_->dueAfterStep(step_) && !stopRequested_) evaluate(epoch);
    }
    reached_ = {epoch, input->position()};
    inputWaitSeconds_ += input->waitSeconds();
    if (const std::optional<double> loss = meter_.epochLoss()) summary_.finalTrainLoss = *loss;
    summary_.epochs = epoch + 1;
  }

  void saveCheckpoint(std::pair<int64_t, int64_t> epochAndSample, bool finished) {
    const auto start = Clock::now();  // the ranks that wait for rank 0's writing are not slow
    health::markPhase(health::Phase::kCheckpoint);
    strategy_->averageBuffers(step_);
    strategy_->gatherModel();
    TrainingPosition position{step_, epochAndSample.first, epochAndSample.second,
                              layoutOf(config_, control_.size()), guard_.scaler().state()};
    position.finished = finished;
    checkpointer_->save(
        position, *model_, [&](const ByteSink* sink) { strategy_->writeOptimizerState(sink); },
        *log_);
    meter_.leaveOut(Clock::now() - start);
  }

  void evaluate(int64_t epoch) {
    if (!trainingData_.validation) return;  // --val none
    const auto start = Clock::now();
    model_->eval();
    const Evaluation result = validation_->run(*strategy_, objective_, data_, device_, step_);
    model_->train();
    recordValidation(result, step_, summary_);
    valMetrics_ = result.metrics;
    log_->record(validationRecord(epoch, facts(), summary_, valMetrics_, result.targets));
    // The throughput of the next log line counts training only.
    meter_.leaveOut(Clock::now() - start);
  }

  RunFacts facts() const {
    // clang-format off
    return {config_, modelSpec_, trainingData_, *strategy_, data_, *checkpointer_, guard_, device_,
            control_.size(), dataReplicas(),
            trainingData_.train ? trainingData_.train->source() : config_.trainSpec, prefetch(),
            reducerOptions_, meter_, plan_,
            schedule_.baseLr, start_, resumedFrom_, place_.outputDir, objective_.classifies(),
            tokensPerSample(), validatesLanguageModel(trainingData_, hooks_)};
    // clang-format on
  }

  void finish() {
    health::markPhase(health::Phase::kFinishing);
    summary_.worldSize = control_.size();
    summary_.steps = step_;
    gatherWorstFigures(control_, strategy_->reducer().stats().exposedSeconds, trainingCpuSeconds_,
                       inputWaitSeconds_, summary_);
    const ordered_json strategyReport = strategy_->report(control_);
    finishTrace(config_, control_, place_.outputDir, *log_);
    strategy_->gatherModel();
    if (!isRankZero()) return;
    saveModel(place_.outputDir + "/model.safetensors", *model_, modelSpec_,
              trainingData_.standardization, dataSplitOf(config_), trainingData_.tokenizer);
    const std::string& written = checkpointer_->lastWritten();
    writeSummary(facts(),
                 {summary_, valMetrics_, validation_->lastTargets(), strategyReport, stopReason_,
                  written.empty() ? resumedFrom_ : written, !objective_.metrics().empty()},
                 *log_);
  }

  const TrainConfig config_;  // as given, with what pipeline mode and the placement imply
  const TrainHooks hooks_;
  Objective objective_;  // scores every position once the model says it predicts them
  // What --drop-last said: part of a checkpoint's identity (TrainSetup.h).
  const bool requestedDropLast_;
  const ddp::ReducerOptions reducerOptions_;  // config_.reducer with overlap decided
  comm::Communicator& control_;
  comm::Communicator& host_;
  comm::Communicator& data_;
  c10::Device device_;
  UpdateGuard guard_;

  TrainingData trainingData_;
  models::ModelSpec modelSpec_;
  std::shared_ptr<models::Classifier> model_;
  pipeline::PipelineGrid grid_;  // 1 stage unless --pipeline-stages
  std::unique_ptr<StepStrategy> strategy_;
  std::unique_ptr<RunLog> log_;
  std::unique_ptr<Checkpointer> checkpointer_;
  TrainingPosition start_;  // where this run picks up: step 0, or a checkpoint's position
  std::string resumedFrom_;
  RunPlace place_;  // rank 0: where this run writes
  std::unique_ptr<RunMarker> marker_;
  std::pair<int64_t, int64_t> reached_{0, 0};  // the epoch and sample the last epoch ended at
  bool stopRequested_ = false;  // some rank got a stop signal; all stop after the same step
  std::string stopReason_;
  LrSchedule schedule_;
  RunPlan plan_;
  int64_t step_ = 0;
  TrainingMeter meter_;
  std::unique_ptr<Validation> validation_;
  double trainingCpuSeconds_ = 0;
  double inputWaitSeconds_ = 0;  // the training loop waiting for batches
  RunSummary summary_;
  ordered_json valMetrics_;  // the hooks' metrics at the last evaluation
};

}  // namespace

RunSummary runTraining(const TrainConfig& config, const Communicators& communicators,
                       const platform::Placement& placement, const TrainHooks& hooks) {
  return Trainer(config, communicators, placement, hooksFor(config, hooks)).run();
}

}  // namespace ringtrain::train
