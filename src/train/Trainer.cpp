// The training job, top to bottom:
// clang-format off
//   setUp()            every rank: flags, data, model; all succeed or fail together
//   setUpStages()      what this rank trains (the whole model, or its pipeline stage: see
//                      PipelineParallel.h), its optimizer and its reducer
//   resume             rank 0's checkpoint, if --resume finds one, restored on every rank
//   synchronize        same parameter names and shapes everywhere, then rank 0's values (each
//                      stage's replica 0's in a pipeline)
//   TRAINING SECTION   per optimizer step: micro-batches forward/backward (the reducer averages
//                      gradients bucket by bucket), clip, finiteness check, learning rate,
//                      optimizer step; then a checkpoint when due or when a stop was agreed
//   evaluate()         every epoch, each validation sample counted once across ranks
//   finish()           rank 0 writes model.safetensors and summary.json
// clang-format on
#include "ringtrain/train/Trainer.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <torch/nn/utils/clip_grad.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "ringtrain/comm/Agreement.h"
#include "ringtrain/data/BatchPrefetcher.h"
#include "ringtrain/data/DistributedSampler.h"
#include "ringtrain/ddp/ParameterSync.h"
#include "ringtrain/ddp/Reducer.h"
#include "ringtrain/platform/Resources.h"
#include "ringtrain/platform/StopSignals.h"
#include "ringtrain/train/Checkpointer.h"
#include "ringtrain/train/IndexedEpoch.h"
#include "ringtrain/train/LrSchedule.h"
#include "ringtrain/train/MixedPrecision.h"
#include "ringtrain/train/ModelFile.h"
#include "ringtrain/train/NonFinite.h"
#include "ringtrain/train/Optimizer.h"
#include "ringtrain/train/PipelineParallel.h"
#include "ringtrain/train/RunLog.h"
#include "ringtrain/train/StreamedEpoch.h"
#include "ringtrain/train/TrainingData.h"
#include "ringtrain/util/Error.h"
#include "ringtrain/util/Files.h"

namespace ringtrain::train {
namespace {

using Clock = std::chrono::steady_clock;
using ordered_json = nlohmann::ordered_json;

constexpr int64_t kEvaluationBatch = 1024;
constexpr int kDivergedExitCode = 3;
// The length of a run on a stream without --max-steps.
constexpr int64_t kUnknownSteps = std::numeric_limits<int64_t>::max();

std::string describeLayout(const nlohmann::json& layout) {
  std::ostringstream text;
  text << layout.value("world_size", 0) << " ranks";
  if (layout.contains("pipeline_stages")) text << " in " << layout["pipeline_stages"] << " stages";
  text << ", batch " << layout.value("batch_size", 0) << ", accumulation "
       << layout.value("grad_accum", 0);
  return text.str();
}

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void validateConfig(const TrainConfig& config) {
  RINGTRAIN_USER_CHECK(config.batchSize > 0, "--batch-size must be positive");
  RINGTRAIN_USER_CHECK(config.gradAccum > 0, "--grad-accum must be positive");
  RINGTRAIN_USER_CHECK(config.epochs > 0 || config.maxSteps > 0,
                       "--epochs must be positive (or give --max-steps)");
  RINGTRAIN_USER_CHECK(config.maxSteps >= 0, "--max-steps must not be negative");
  RINGTRAIN_USER_CHECK(config.lr > 0 && std::isfinite(config.lr), "--lr must be positive");
  RINGTRAIN_USER_CHECK(config.warmupSteps >= 0, "--warmup-steps must not be negative");
  RINGTRAIN_USER_CHECK(config.clipGradNorm >= 0, "--clip-grad-norm must not be negative");
  RINGTRAIN_USER_CHECK(config.logEvery > 0, "--log-every must be positive");
  RINGTRAIN_USER_CHECK(!config.outputDir.empty(), "--output-dir must not be empty");
  RINGTRAIN_USER_CHECK(config.checkpointEvery >= 0, "--checkpoint-every must not be negative");
  RINGTRAIN_USER_CHECK(config.pipeline.stages == 1 || config.sharding == DataSharding::kGlobal,
                       "--pipeline-stages needs --data-sharding global: the stages of a "
                       "pipeline must read the same samples");
}

// Every micro-batch of a pipeline has the same shape, so a batch left incomplete at the end of
// an epoch is dropped.
TrainConfig withPipelineDefaults(TrainConfig config) {
  if (config.pipeline.stages > 1) config.dropLast = true;
  return config;
}

// A pipeline's main thread sends and receives during backward, so the reducer may not make MPI
// calls from a thread of its own at the same time (MPI_THREAD_SERIALIZED); NCCL's reducer has no
// such thread.
bool overlapExcluded(const TrainConfig& config, const comm::Communicator& data) {
  return config.pipeline.stages > 1 && data.reducesOnHost();
}

ddp::ReducerOptions resolveReducerOptions(const TrainConfig& config, const comm::Communicator& data,
                                          const platform::Placement& placement) {
  ddp::ReducerOptions options = config.reducer;
  options.overlap = !overlapExcluded(config, data) &&
                    (placement.device.is_cuda() || placement.communicationThread) &&
                    ddp::overlapPays(config.reducer.overlapMode, placement.device.is_cuda(),
                                     placement.spareCoresPerRank);
  return options;
}

// Open MPI gives every rank a pseudo-terminal even when mpirun's own output goes to a file, so
// under a launcher "auto" cannot tell and stays off; scripts/run.sh passes --progress on when its
// output is a terminal.
bool showProgressBar(ProgressMode mode) {
  if (mode == ProgressMode::kAuto) {
    const bool launched = std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE");
    return !launched && ::isatty(STDOUT_FILENO) != 0;
  }
  return mode == ProgressMode::kOn;
}

class Trainer {
 public:
  Trainer(const TrainConfig& config, const Communicators& communicators,
          const platform::Placement& placement, const TrainHooks& hooks)
      : config_(withPipelineDefaults(config)),
        hooks_(hooks),
        requestedDropLast_(config.dropLast),
        reducerOptions_(resolveReducerOptions(config, communicators.data, placement)),
        control_(communicators.control),
        host_(communicators.host),
        data_(communicators.data),
        device_(placement.device) {}

  RunSummary run() {
    const auto start = Clock::now();
    comm::runOnAllRanks(control_, [&] { setUp(); });
    // Apart from setUp(), whose work is local: the pipeline's communicators are collective.
    comm::runOnAllRanks(control_, [&] { setUpStages(); });
    const std::optional<checkpoint::Checkpoint> resumed = checkpointer_->share();
    if (resumed) {
      comm::runOnAllRanks(control_, [&] {
        // A host's own files may differ after a restart: its position is clamped to them.
        const int64_t bound = hostSharded() || !trainingData_.train
                                  ? std::numeric_limits<int64_t>::max()
                                  : trainingData_.train->size();
        if (pipeline_) {
          // Checkpoints hold the whole model's optimizer, as a data-parallel run writes it: read
          // on the CPU, and only this stage's part goes to the device.
          const auto whole = wholeModelOptimizer();
          start_ = checkpointer_->restore(*resumed, bound, *model_, *whole, c10::Device(c10::kCPU));
          pipeline_->takeStageState(*whole, *optimizer_);
        } else {
          start_ = checkpointer_->restore(*resumed, bound, *model_, *optimizer_);
        }
        scaler_.restore(start_.lossScaler);
        resumedFrom_ = resumed->path;
      });
      step_ = start_.step;
    }
    if (hostSharded()) checkHostsAlike();
    planSteps();
    // A stage's replicas start from its replica 0's values, as data-parallel ranks from rank 0's.
    ddp::verifySameParameters(pipeline_ ? pipeline_->replicaControl() : control_, parameters_);
    ddp::broadcastParameters(pipeline_ ? pipeline_->replicas() : data_, parameters_);
    ddp::broadcastParameters(pipeline_ ? pipeline_->replicas() : data_, buffers_);
    announce();

    double trainingSeconds = 0;
    windowStart_ = Clock::now();
    bool evaluated = false;
    for (int64_t epoch = start_.epoch; epoch < epochsToRun_ && !finished(); ++epoch) {
      const auto epochStart = Clock::now();
      const double cpuStart = platform::processCpuSeconds();
      trainEpoch(epoch, epoch == start_.epoch ? start_.samplesInEpoch : 0);
      evaluated = true;
      trainingSeconds += secondsSince(epochStart);
      trainingCpuSeconds_ += platform::processCpuSeconds() - cpuStart;
      if (!stopRequested_) evaluate(epoch);
    }
    // Resumed with nothing left to train.
    if (!evaluated && !stopRequested_) evaluate(start_.epoch);
    summary_.samplesPerSec = trainingSeconds > 0 ? globalSamples_ / trainingSeconds : 0;
    summary_.trainingSeconds = trainingSeconds;
    summary_.wallSeconds = secondsSince(start);
    finish();
    return summary_;
  }

 private:
  bool isRankZero() const { return control_.rank() == 0; }
  bool hostSharded() const { return config_.sharding == DataSharding::kHost; }
  std::string trainSource() const {
    return trainingData_.train ? trainingData_.train->source() : config_.trainSpec;
  }
  // The ranks that deal out the training samples between them, and this rank's place among them:
  // a pipeline's stages read the same samples.
  int sharers() const { return hostSharded() ? control_.topology().localSize : grid_.replicas; }
  int sharerRank() const {
    return hostSharded() ? control_.topology().localRank : grid_.replicaOf(control_.rank());
  }
  // Model replicas: ranks, or whole pipelines.
  int dataReplicas() const { return grid_.replicas; }
  // With host-sharded data, hosts hold different numbers of samples; every rank takes the
  // fewest micro-batches any rank can, so none waits in a collective for one that ran out.
  int64_t agreedMin(int64_t mine) {
    if (!hostSharded()) return mine;
    at::Tensor value = at::full({1}, mine, at::kLong);
    control_.allReduce(value, comm::ReduceOp::kMin);
    return value.item<int64_t>();
  }
  // The micro-batches every rank takes from the first `samples` minus `firstSample` samples.
  int64_t agreedMicroBatches(int64_t samples, int64_t firstSample) {
    const int64_t perRank =
        data::samplesPerRank(samples - std::min(samples, firstSample), sharers(), config_.dropLast);
    return agreedMin(microBatchesFor(perRank, config_.batchSize, config_.dropLast));
  }
  // Host-sharded positions in an epoch count the samples of one host's ranks.
  void checkHostsAlike() {
    at::Tensor sizes = at::full({2}, control_.topology().localSize, at::kLong);
    sizes[1] = -sizes[1];
    control_.allReduce(sizes, comm::ReduceOp::kMax);
    if (sizes[0].item<int64_t>() == -sizes[1].item<int64_t>()) return;
    throw comm::CollectiveFailure(
        "--data-sharding host needs the same number of ranks on every "
        "host; they have between " +
            std::to_string(-sizes[1].item<int64_t>()) + " and " +
            std::to_string(sizes[0].item<int64_t>()),
        isRankZero(), 2);
  }

  data::PrefetchOptions prefetchOptions() const {
    data::PrefetchOptions options;
    // On CPU a worker costs a core's share; it pays where batches wait for the disk (measured in
    // docs/BENCHMARKS.md: the loop waited 4% of a 10 ms step without one, 0.5% with one).
    const bool fromDisk = trainingData_.train && trainingData_.train->readsFromDisk();
    options.workers = config_.dataWorkers >= 0 ? config_.dataWorkers
                      : device_.is_cuda()      ? 2
                      : fromDisk               ? 1
                                               : 0;
    options.depth = std::max(2, 2 * options.workers);
    options.pinned = device_.is_cuda();
    return options;
  }
  bool finished() const { return step_ >= totalSteps_ || stopRequested_; }

  // Every rank calls this after the same step. Which signal, and which rank got it, is worth
  // the two small collectives of a once-only event.
  void announceStop() {
    const int local = platform::stopSignalReceived();
    at::Tensor signal = at::full({1}, static_cast<int64_t>(local), at::kLong);
    control_.allReduce(signal, comm::ReduceOp::kMax);
    at::Tensor firstRank = at::full({1}, local != 0 ? control_.rank() : control_.size(), at::kLong);
    control_.allReduce(firstRank, comm::ReduceOp::kMin);
    stopReason_ = platform::signalName(static_cast<int>(signal.item<int64_t>()));
    log_->info("stopping at step " + std::to_string(step_) + " of " + std::to_string(totalSteps_) +
               ": " + stopReason_ + " received by rank " +
               std::to_string(firstRank.item<int64_t>()) + "; resume with the same command");
  }
  std::string outputPath(const char* file) const {
    return (std::filesystem::path(config_.outputDir) / file).string();
  }

  void setUp() {
    validateConfig(config_);
    grid_ = pipeline::PipelineGrid::forWorld(control_.size(), config_.pipeline.stages);
    trainingData_ = loadTrainingData(config_, sharers());
    RINGTRAIN_USER_CHECK(!pipelined() || trainingData_.train,
                         "--pipeline-stages does not read streams (pipe:): every stage must "
                         "see the same batches");

    modelSpec_ = config_.model;
    // A stream's samples must have the validation set's shape.
    modelSpec_.inputShape = trainingData_.train ? trainingData_.train->sampleShape()
                                                : trainingData_.validation->sampleShape();
    modelSpec_.numClasses = trainingData_.numClasses;
    at::manual_seed(config_.seed);
    if (hooks_.makeModel) {
      modelSpec_.kind = "custom";
      modelSpec_.hidden.clear();
      model_ = hooks_.makeModel(modelSpec_);
      RINGTRAIN_CHECK(model_ && !model_->layers().empty(),
                      "TrainHooks::makeModel returned no model, or one without layers");
    } else {
      model_ = models::makeModel(modelSpec_);
    }
    // Only the values of rank 0 (of each stage's replica 0 in a pipeline) matter: they are
    // broadcast to the others.
    if (!config_.initFrom.empty() && (isRankZero() || pipelined())) {
      loadInitialWeights(config_.initFrom, *model_);
    }
    if (isRankZero()) ensureWritableDirectory(config_.outputDir, "--output-dir");
    log_ = std::make_unique<RunLog>(isRankZero(), outputPath("metrics.jsonl"),
                                    showProgressBar(config_.progress));
    checkpointer_ = std::make_unique<Checkpointer>(config_, control_, runIdentity());
    checkpointer_->locate(*log_);
  }

  bool pipelined() const { return config_.pipeline.stages > 1; }

  // The parameters this rank trains (the whole model, or its pipeline stage's), their optimizer
  // and their reducer.
  void setUpStages() {
    if (pipelined()) {
      // The stage moves its own layers to the device; the rest of the model stays on the CPU,
      // where rank 0 assembles the whole model for checkpoints and model.safetensors.
      pipeline_ = std::make_unique<PipelineParallel>(config_, *model_, modelSpec_.inputShape,
                                                     control_, data_, device_);
      parameters_ = pipeline_->parameters();
      buffers_ = pipeline_->buffers();
    } else {
      model_->to(device_);
      for (const auto& item : model_->named_parameters())
        parameters_.emplace_back(item.key(), item.value());
      for (const auto& item : model_->named_buffers())
        buffers_.emplace_back(item.key(), item.value());
    }
    // Counters (BatchNorm's num_batches_tracked) agree anyway.
    buffers_.erase(
        std::remove_if(buffers_.begin(), buffers_.end(),
                       [](const auto& buffer) { return !buffer.second.is_floating_point(); }),
        buffers_.end());
    schedule_.baseLr = config_.scaleLr ? config_.lr * dataReplicas() : config_.lr;
    schedule_.shape = config_.lrShape;
    schedule_.warmupSteps = config_.warmupSteps;
    for (const auto& [name, tensor] : parameters_) parameterTensors_.push_back(tensor);
    // Every step sets its own learning rate; this one is a placeholder.
    optimizer_ = makeOptimizer(config_, parameterTensors_, schedule_.baseLr);
    reducer_ = std::make_unique<ddp::Reducer>(pipeline_ ? pipeline_->replicas() : data_,
                                              parameters_, reducerOptions_);
  }

  // Over every parameter of the model, as a data-parallel run's optimizer: what checkpoints hold.
  std::unique_ptr<torch::optim::Optimizer> wholeModelOptimizer() const {
    return makeOptimizer(config_, model_->parameters(), schedule_.baseLr);
  }

  // Collective. A pipeline's stages first hand their parts of the model, and with
  // `withOptimizer` their optimizer state, to rank 0.
  void gatherModel(bool withOptimizer) {
    if (!pipeline_) return;
    if (withOptimizer && isRankZero() && !wholeOptimizer_) wholeOptimizer_ = wholeModelOptimizer();
    pipeline_->gatherToRankZero(*model_, withOptimizer ? optimizer_.get() : nullptr,
                                withOptimizer ? wholeOptimizer_.get() : nullptr);
  }
  torch::optim::Optimizer& optimizerToSave() {
    return pipeline_ && isRankZero() ? *wholeOptimizer_ : *optimizer_;
  }

  // The run's length, once its starting point is known: the rest of the starting epoch (which
  // may have been begun at another world size or batch) and the whole epochs after it. A stream's
  // length is unknown: it runs --epochs streams, or --max-steps.
  void planSteps() {
    if (!trainingData_.train) {
      epochsToRun_ = config_.epochs;
      totalSteps_ = config_.maxSteps > 0 ? config_.maxSteps : kUnknownSteps;
      RINGTRAIN_USER_CHECK(config_.lrShape == LrShape::kConstant || config_.maxSteps > 0,
                           "--lr-schedule with a stream (pipe:) needs --max-steps: the length of "
                           "a stream is not known in advance");
      schedule_.totalSteps = config_.maxSteps;
      return;
    }
    const int64_t samples = trainingData_.train->size();
    stepsPerEpoch_ = stepsFor(agreedMicroBatches(samples, 0), config_.gradAccum);
    const int64_t stepsLeftInEpoch =
        stepsFor(agreedMicroBatches(samples, start_.samplesInEpoch), config_.gradAccum);
    if (config_.maxSteps > 0) {
      totalSteps_ = config_.maxSteps;
      const int64_t afterThisEpoch = std::max<int64_t>(0, totalSteps_ - step_ - stepsLeftInEpoch);
      epochsToRun_ = start_.epoch + 1 + (afterThisEpoch + stepsPerEpoch_ - 1) / stepsPerEpoch_;
    } else {
      epochsToRun_ = config_.epochs;
      totalSteps_ =
          start_.epoch < config_.epochs
              ? step_ + stepsLeftInEpoch + (config_.epochs - start_.epoch - 1) * stepsPerEpoch_
              : step_;
    }
    schedule_.totalSteps = totalSteps_;
  }

  // This rank's micro-batches of one epoch.
  std::unique_ptr<EpochInput> openEpoch(int64_t epoch, int64_t firstSample) {
    if (!trainingData_.train) {
      StreamPlan plan;
      // Pipe mode numbers a container's streams from _0, also after a restart that resumed.
      plan.path = *trainingData_.trainStream + "_" + std::to_string(epoch - start_.epoch);
      plan.sampleShape = modelSpec_.inputShape;
      plan.numClasses = modelSpec_.numClasses;
      plan.batchSize = config_.batchSize;
      plan.gradAccum = config_.gradAccum;
      plan.dropLast = config_.dropLast;
      plan.pinned = device_.is_cuda();
      return std::make_unique<StreamedEpoch>(plan, host_, control_);
    }
    IndexedEpochPlan plan;
    const int64_t samples = trainingData_.train->size();
    plan.shard = {samples, sharers(),       sharerRank(),     config_.seed,
                  epoch,   config_.shuffle, config_.dropLast, std::min(firstSample, samples)};
    plan.batchSize = config_.batchSize;
    plan.gradAccum = config_.gradAccum;
    plan.microBatches = agreedMicroBatches(samples, plan.shard.firstSample);
    return std::make_unique<IndexedEpoch>(trainingData_.train, plan, prefetchOptions());
  }

  // How the data was split into steps: may differ between a checkpoint and the run resuming it.
  nlohmann::json layout() const {
    nlohmann::json layout{{"world_size", control_.size()},
                          {"batch_size", config_.batchSize},
                          {"grad_accum", config_.gradAccum}};
    if (pipelined()) layout["pipeline_stages"] = config_.pipeline.stages;
    return layout;
  }

  // What a checkpoint must share with this run to be resumed from: the model, the data and the
  // order in which it is read. Step counts (--epochs, --max-steps), the number of ranks and the
  // batch may change: the epoch goes on from its global sample position.
  nlohmann::json runIdentity() const {
    nlohmann::json identity{{"model", modelSpec_.kind},
                            {"hidden", modelSpec_.hidden},
                            {"input_shape", modelSpec_.inputShape},
                            {"num_classes", modelSpec_.numClasses},
                            {"optimizer", config_.optimizer},
                            {"train", trainSource()},
                            {"seed", config_.seed},
                            {"shuffle", config_.shuffle},
                            {"drop_last", requestedDropLast_}};
    if (modelSpec_.kind == "gpt") {
      identity["gpt"] = {modelSpec_.gpt.layers, modelSpec_.gpt.width, modelSpec_.gpt.heads};
    }
    // The network itself, not its file's name or layout.
    if (modelSpec_.kind == "spec") identity["network"] = nlohmann::json::parse(modelSpec_.network);
    if (modelSpec_.kind == "custom") {
      ddp::NamedParameters named;
      for (const auto& item : model_->named_parameters())
        named.emplace_back(item.key(), item.value());
      identity["parameters"] = ddp::describeParameters(named);
    }
    // Hosts hold different files, which may change between restarts.
    if (hostSharded()) identity["data_sharding"] = "host";
    if (!hostSharded() && trainingData_.train)
      identity["train_samples"] = trainingData_.train->size();
    return identity;
  }

  void announce() {
    int64_t parameterCount = 0;
    for (const at::Tensor& tensor : model_->parameters()) parameterCount += tensor.numel();
    const int world = control_.size();
    std::ostringstream line;
    line << "ringtrain: " << world << " rank(s), device " << device_ << ", backend "
         << data_.backendName() << ", " << at::get_num_threads() << " thread(s) per rank\n"
         << "  model "
         << (modelSpec_.kind == "spec" ? "from " + modelSpec_.networkSource : modelSpec_.kind)
         << " (" << parameterCount << " parameters, " << modelSpec_.numClasses << " classes)\n"
         << "  train " << trainSource() << ": "
         << (trainingData_.train ? std::to_string(trainingData_.train->size()) + " samples"
                                 : "a stream per epoch, read by local rank 0 of each host")
         << (hostSharded() ? " on this host (data sharded by host)" : "") << "; validation "
         << trainingData_.validation->source() << ": " << trainingData_.validation->size()
         << " samples\n"
         << "  input: " << describeInput() << "\n"
         << "  " << epochsToRun_ << " epoch(s) x "
         << (trainingData_.train ? std::to_string(stepsPerEpoch_) + " steps"
                                 : std::string("as many steps as each stream holds"))
         << ", global batch " << config_.batchSize * config_.gradAccum * dataReplicas() << ", lr "
         << schedule_.baseLr << ", precision " << precisionName(config_.precision)
         << (scaler_.enabled() ? " (dynamic loss scaling from " +
                                     std::to_string(static_cast<int64_t>(scaler_.scale())) + ")"
                               : std::string())
         << "\n  gradients" << (pipeline_ ? " of stage 0" : "") << ": " << describeReducer();
    if (pipeline_) {
      line << "\n  pipeline: " << pipeline_->describe()
           << "; an epoch's incomplete last batch is dropped";
    }
    line << "\n  output " << config_.outputDir << "\n  checkpoints: ";
    if (checkpointer_->writes()) {
      line << "every " << config_.checkpointEvery << " steps into " << checkpointer_->directory()
           << " (newest " << config_.checkpointKeep << " kept)";
    } else {
      line << "off (--checkpoint-every N turns them on)";
    }
    if (!resumedFrom_.empty()) {
      line << "\n  resumed from " << resumedFrom_ << " at step " << start_.step << " (epoch "
           << start_.epoch + 1;
      if (trainingData_.train) {
        line << ", sample " << start_.samplesInEpoch << " of " << trainingData_.train->size()
             << ")";
      } else {
        line << ", its stream read again from the start)";
      }
      if (start_.layout != layout()) {
        line << "; written at " << describeLayout(start_.layout) << ", continuing at "
             << describeLayout(layout());
      }
    }
    log_->info(line.str());
  }

  std::string describeInput() const {
    const data::PrefetchOptions options = prefetchOptions();
    std::ostringstream text;
    if (options.workers == 0) {
      text << "batches assembled on the training thread";
    } else {
      text << options.workers << " worker thread(s) assemble up to " << options.depth
           << " batches ahead";
    }
    if (options.pinned) text << ", in pinned memory";
    return text.str();
  }

  int64_t largestBucketBytes() const {
    int64_t largest = 0;
    for (const auto& bucket : reducer_->buckets()) largest = std::max(largest, bucket.bytes());
    return largest;
  }

  std::string describeReducer() const {
    const ddp::ReducerOptions& options = reducerOptions_;
    std::ostringstream text;
    const auto& buckets = reducer_->buckets();
    text << buckets.size() << " bucket(s) (first " << buckets.front().bytes() / 1024
         << " KiB, largest " << largestBucketBytes() / 1024 << " KiB)";
    text << ", allreduce " << comm::algorithmName(options.algorithm);
    if (options.algorithm == comm::AllReduceAlgorithm::kAuto) {
      text << (data_.reducesOnHost() ? " (ring for buckets from " +
                                           std::to_string(options.ring.autoRingFromBytes >> 20) +
                                           " MiB, native below)"
                                     : " (native)");
    }
    text << ", overlap " << (options.overlap ? "on" : "off")
         << (overlapExcluded(config_, data_) ? " (pipeline stages communicate during backward)"
             : options.overlapMode == ddp::OverlapMode::kAuto
                 ? (options.overlap ? " (auto)" : " (auto: no spare core for communication)")
                 : "")
         << ", compression " << ddp::compressionName(options.compression)
         << (options.findUnusedParameters ? ", unused parameters reduced as zeros" : "");
    return text.str();
  }

  // ---------------------------------- TRAINING SECTION BEGIN ----------------------------------
  void trainEpoch(int64_t epoch, int64_t firstSample) {
    const int replicas = dataReplicas();
    const std::unique_ptr<EpochInput> input = openEpoch(epoch, firstSample);
    // Steps of this epoch that came before, as this run would count them: for the progress bar.
    const std::optional<int64_t> stepsLeft = input->stepsLeft();
    const int64_t stepsBefore = stepsLeft ? std::max<int64_t>(0, stepsPerEpoch_ - *stepsLeft) : 0;
    model_->train();
    double epochLoss = 0;
    int64_t epochSteps = 0;

    for (int64_t stepHere = 0; !finished(); ++stepHere) {
      const int64_t microBatches = input->beginStep();
      if (microBatches == 0) break;
      reducer_->zeroGradients();
      int64_t stepSamples = 0;
      StepOutcome outcome;
      if (pipeline_) {
        outcome = pipelineStep(*input, microBatches, stepSamples);
      } else {
        outcome = dataParallelStep(*input, microBatches, stepSamples);
      }
      const double lr = learningRateAt(schedule_, step_);
      if (!outcome.problem) {
        scaler_.record(false);
        consecutiveSkips_ = 0;
        setLearningRate(*optimizer_, lr);
        optimizer_->step();
      } else if (scaler_.enabled() && std::isfinite(outcome.loss)) {
        skipOverflow(*outcome.problem, epoch);
      } else {
        refuseUpdate(*outcome.problem, epoch);
      }
      ++step_;
      // ------------------------------- TRAINING SECTION END -------------------------------

      if (!outcome.problem) {
        epochLoss += outcome.loss;
        ++epochSteps;
        windowLoss_ += outcome.loss;
        ++windowSteps_;
      }
      windowSamples_ += stepSamples * replicas;
      globalSamples_ += static_cast<double>(stepSamples * replicas);
      if (log_->showsProgress() && windowSteps_ > 0 && stepsLeft) {
        log_->progress(epoch + 1, epochsToRun_, stepsBefore + stepHere + 1,
                       stepsBefore + *stepsLeft, windowLoss_ / windowSteps_);
      }
      // Identical on every rank, so all stop after the same step.
      if (outcome.stopVoted) stopRequested_ = true;
      if (step_ % config_.logEvery == 0 || finished()) logTraining(epoch, lr);
      if (checkpointer_->dueAfter(step_) || stopRequested_) {
        averageBuffers();
        gatherModel(/*withOptimizer=*/true);
        checkpointer_->save({step_, epoch, input->position(), layout(), scaler_.state()}, *model_,
                            optimizerToSave(), *log_);
      }
      if (stopRequested_) announceStop();
    }
    inputWaitSeconds_ += input->waitSeconds();
    if (epochSteps > 0) summary_.finalTrainLoss = epochLoss / epochSteps;
    summary_.epochs = epoch + 1;
  }

  struct StepOutcome {
    double loss = 0;
    bool stopVoted = false;
    std::optional<std::string> problem;  // what was not finite
  };

  // Forward and backward of a step's micro-batches on the whole model; gradients averaged over
  // the ranks by the reducer. Counts the samples read into `stepSamples`.
  StepOutcome dataParallelStep(EpochInput& input, int64_t microBatches, int64_t& stepSamples) {
    at::Tensor stepLoss = at::zeros({1}, at::TensorOptions().device(device_));
    for (int64_t m = 0; m < microBatches; ++m) {
      const data::Batch batch = withTargets(input.nextMicroBatch());
      // Pinned batches copy while the device works on what came before.
      const bool asynchronous = batch.features.is_pinned();
      at::Tensor logits;
      {
        const AutocastScope autocast(config_.precision, device_.type());
        logits = model_->forward(batch.features.to(device_, asynchronous));
      }
      const at::Tensor loss = meanLoss(logits, batch.labels.to(device_, asynchronous));
      reducer_->prepareForBackward(/*synchronize=*/m + 1 == microBatches);
      const double share = static_cast<double>(microBatches);
      (scaler_.enabled() ? loss * (scaler_.scale() / share) : loss / share).backward();
      stepLoss += loss.detach();
      stepSamples += batch.labels.size(0);
    }
    // Whether any rank was asked to stop travels with the loss, in the allreduce every step
    // makes anyway.
    const at::Tensor stopVote =
        at::full({1}, platform::stopSignalReceived() != 0 ? 1.0 : 0.0, stepLoss.options());
    const at::Tensor reduced =
        reducer_->finishBackward(at::cat({stepLoss / static_cast<double>(microBatches), stopVote}));
    scaler_.unscale(parameterTensors_);
    return inspect(reduced);
  }

  // The same step through this rank's pipeline stage: each micro-batch of the data-parallel
  // sense (a batch of --batch-size) is cut into the pipeline's micro-batches. The loss lives on
  // the last stage, the gradients on every stage, so one allreduce over all ranks gathers the
  // loss, the stop vote and the squared gradient norm.
  StepOutcome pipelineStep(EpochInput& input, int64_t microBatches, int64_t& stepSamples) {
    double stepLoss = 0;
    const double scale = scaler_.enabled() ? scaler_.scale() : 1.0;
    for (int64_t m = 0; m < microBatches; ++m) {
      const data::Batch batch = withTargets(input.nextMicroBatch());
      const bool lastMicroBatch = m + 1 == microBatches;
      const double samples = static_cast<double>(batch.labels.size(0) * microBatches);
      stepLoss +=
          pipeline_->train(
              batch, scale / samples,
              [&](bool lastBackward) {
                reducer_->prepareForBackward(/*synchronize=*/lastMicroBatch && lastBackward);
              },
              hooks_.loss) /
          scale;
      stepSamples += batch.labels.size(0);
    }
    const at::TensorOptions options = at::TensorOptions().device(device_).dtype(at::kDouble);
    // The reducer's failures (a parameter without a gradient) are agreed among a stage's
    // replicas only; the allreduce below tells the other stages, which would wait otherwise.
    std::optional<comm::CollectiveFailure> failure;
    try {
      reducer_->finishBackward(at::zeros({0}, options));
    } catch (const comm::CollectiveFailure& stageFailure) {
      failure = stageFailure;
    }
    scaler_.unscale(parameterTensors_);
    std::vector<at::Tensor> gradients;
    for (const at::Tensor& parameter : parameterTensors_) {
      if (parameter.grad().defined()) gradients.push_back(parameter.grad());
    }
    const at::Tensor squares =
        gradients.empty()
            ? at::zeros({}, options)
            : at::stack(at::_foreach_norm(gradients, 2)).to(at::kDouble).square().sum();
    at::Tensor totals =
        at::stack({at::scalar_tensor(pipeline_->lastStage() ? stepLoss : 0.0, options),
                   at::scalar_tensor(platform::stopSignalReceived() != 0 ? 1.0 : 0.0, options),
                   squares, at::scalar_tensor(failure ? 1.0 : 0.0, options)});
    data_.allReduce(totals, comm::ReduceOp::kSum);
    const at::Tensor host = totals.cpu();
    if (host[3].item<double>() > 0) {
      // Exit status 2, as the reducer's own report.
      throw failure ? *failure : comm::CollectiveFailure("", false, 2);
    }
    // Each stage's replicas hold the same reduced gradients and the same loss.
    const double replicas = dataReplicas();
    const double loss = host[0].item<double>() / replicas;
    const double norm = std::sqrt(host[2].item<double>() / replicas);
    if (config_.clipGradNorm > 0 && std::isfinite(norm)) {
      // As torch::nn::utils::clip_grad_norm_ does, with the norm over all stages.
      const double factor = config_.clipGradNorm / (norm + 1e-6);
      if (factor < 1) at::_foreach_mul_(gradients, factor);
    }
    return {loss, host[1].item<double>() > 0, nonFiniteProblem(loss, norm)};
  }

  // The batch with what the loss compares the output with in place of its labels.
  data::Batch withTargets(data::Batch batch) const {
    if (hooks_.target) batch.labels = hooks_.target(batch);
    return batch;
  }

  // Accuracy means something only where the targets are class labels.
  nlohmann::json valAccuracyJson() const {
    return hooks_.target ? nlohmann::json() : nlohmann::json(summary_.valAccuracy);
  }

  at::Tensor meanLoss(const at::Tensor& output, const at::Tensor& labels) const {
    if (hooks_.loss) return hooks_.loss(output.to(at::kFloat), labels);
    return at::cross_entropy_loss(output.to(at::kFloat), labels);
  }

  // Where the host waits for the device each step: the loss, the stop vote and whether the
  // gradients are finite are needed before the update.
  StepOutcome inspect(const at::Tensor& reduced) {
    const at::Tensor host = reduced.to(at::kCPU, at::kDouble);
    const double* value = host.const_data_ptr<double>();
    // The norm clipping computes anyway tells whether the gradients are finite.
    const double gradients =
        config_.clipGradNorm > 0
            ? torch::nn::utils::clip_grad_norm_(model_->parameters(), config_.clipGradNorm)
            : gradientMagnitude(parameterTensors_);
    return {value[0], value[1] > 0, nonFiniteProblem(value[0], gradients)};
  }

  // fp16 gradients that overflowed: expected now and then (the scale was too high), not a sign of
  // divergence unless the scale cannot go lower.
  void skipOverflow(const std::string& problem, int64_t epoch) {
    ++overflowSteps_;
    if (!scaler_.record(true)) {
      refuseUpdate(problem + " at the smallest fp16 loss scale", epoch);
      return;
    }
    std::ostringstream line;
    line << "fp16: gradients overflowed at step " << step_ + 1 << ", update skipped; loss scale "
         << scaler_.scale();
    log_->info(line.str());
  }

  void refuseUpdate(const std::string& problem, int64_t epoch) {
    const std::string where =
        "step " + std::to_string(step_ + 1) + " (epoch " + std::to_string(epoch + 1) + ")";
    if (config_.onNonFinite == NonFinitePolicy::kSkip && consecutiveSkips_ < kMaxConsecutiveSkips) {
      ++skippedSteps_;
      ++consecutiveSkips_;
      log_->warn(problem + " at " + where + "; its update was skipped (" +
                 std::to_string(skippedSteps_) + " so far)");
      return;
    }
    const std::string newest =
        checkpointer_->lastWritten().empty() ? resumedFrom_ : checkpointer_->lastWritten();
    std::ostringstream message;
    message << "training diverged: " << problem << " at " << where;
    if (consecutiveSkips_ > 0) message << ", after " << consecutiveSkips_ << " skipped in a row";
    message << "; the update was not applied and model.safetensors was not written";
    if (!newest.empty()) message << "; newest checkpoint: " << newest;
    message << ". Lower --lr or clip with --clip-grad-norm"
            << (config_.onNonFinite == NonFinitePolicy::kStop
                    ? ", or pass --on-nonfinite skip to drop such updates"
                    : "");
    throw comm::CollectiveFailure(message.str(), isRankZero(), kDivergedExitCode);
  }

  void logTraining(int64_t epoch, double lr) {
    if (windowSteps_ == 0) return;
    const double seconds = secondsSince(windowStart_);
    ordered_json entry{{"step", step_},
                       {"epoch", epoch + 1},
                       {"loss", windowLoss_ / windowSteps_},
                       {"lr", lr},
                       {"samples_per_sec", seconds > 0 ? windowSamples_ / seconds : 0.0}};
    log_->record(entry);
    windowLoss_ = 0;
    windowSteps_ = 0;
    windowSamples_ = 0;
    windowStart_ = Clock::now();
  }

  // Running statistics (BatchNorm's) differ between replicas, which saw different samples; the
  // model keeps their mean over the replicas, taken before every evaluation and checkpoint (a
  // stopped run checkpoints, a finished one evaluates: model.safetensors has the mean either way).
  void averageBuffers() {
    if (dataReplicas() == 1 || buffers_.empty()) return;
    c10::NoGradGuard noGrad;
    comm::Communicator& replicas = pipeline_ ? pipeline_->replicas() : data_;
    for (auto& [name, buffer] : buffers_) {
      replicas.allReduce(buffer, comm::ReduceOp::kSum);
      buffer.div_(static_cast<double>(dataReplicas()));
    }
  }

  void evaluate(int64_t epoch) {
    averageBuffers();
    c10::NoGradGuard noGrad;
    model_->eval();
    data::BatchPrefetcher batches(
        trainingData_.validation,
        data::evaluationIndices(trainingData_.validation->size(), sharers(), sharerRank()),
        kEvaluationBatch, prefetchOptions());
    // [loss sum, correct, count, each metric's sum], summed over ranks.
    const auto metrics = static_cast<int64_t>(hooks_.metrics.size());
    at::Tensor totals =
        at::zeros({3 + metrics}, at::TensorOptions().device(device_).dtype(at::kDouble));
    for (int64_t b = 0; b < batches.batches(); ++b) {
      const data::Batch batch = withTargets(batches.next());
      const bool asynchronous = batch.features.is_pinned();
      at::Tensor logits;
      if (pipeline_) {
        // Only the last stage sees the model's output; the others pass activations on.
        logits = pipeline_->evaluate(batch);
        if (!logits.defined()) continue;
      } else {
        const AutocastScope autocast(config_.precision, device_.type());
        logits = model_->forward(batch.features.to(device_, asynchronous));
      }
      logits = logits.to(at::kFloat);
      const at::Tensor labels = batch.labels.to(device_, asynchronous);
      const auto count = static_cast<double>(batch.labels.size(0));
      totals[0] += hooks_.loss ? hooks_.loss(logits, labels) * count
                               : at::cross_entropy_loss(logits, labels, {}, at::Reduction::Sum);
      if (!hooks_.target) totals[1] += logits.argmax(1).eq(labels).sum();
      totals[2] += count;
      for (int64_t m = 0; m < metrics; ++m) {
        totals[3 + m] += hooks_.metrics[static_cast<size_t>(m)].second(logits, labels);
      }
    }
    data_.allReduce(totals, comm::ReduceOp::kSum);
    const at::Tensor host = totals.cpu();
    const double count = host[2].item<double>();
    summary_.valLoss = host[0].item<double>() / count;
    summary_.valAccuracy = host[1].item<double>() / count;
    ordered_json entry{{"step", step_}, {"epoch", epoch + 1}, {"val_loss", summary_.valLoss}};
    if (!hooks_.target) entry["val_accuracy"] = summary_.valAccuracy;
    valMetrics_ = ordered_json::object();
    for (int64_t m = 0; m < metrics; ++m) {
      const std::string& name = hooks_.metrics[static_cast<size_t>(m)].first;
      valMetrics_[name] = host[3 + m].item<double>() / count;
      entry["val_" + name] = valMetrics_[name];
    }
    log_->record(entry);
  }

  void finish() {
    summary_.worldSize = control_.size();
    summary_.steps = step_;
    const at::Tensor mine = at::tensor(
        {reducer_->stats().exposedSeconds, platform::peakResidentBytes() / (1024.0 * 1024.0),
         trainingCpuSeconds_, platform::heapFreeBytes() / (1024.0 * 1024.0), inputWaitSeconds_},
        at::kDouble);
    const at::Tensor worst = std::get<0>(control_.allGather(mine).max(0));
    summary_.exposedCommSeconds = worst[0].item<double>();
    summary_.peakRssMib = worst[1].item<double>();
    summary_.trainingCpuSeconds = worst[2].item<double>();
    summary_.heapFreeMib = worst[3].item<double>();
    summary_.inputWaitSeconds = worst[4].item<double>();
    const nlohmann::ordered_json pipelineReport =
        pipeline_ ? pipeline_->report(control_) : nlohmann::ordered_json();
    gatherModel(/*withOptimizer=*/false);
    if (!isRankZero()) return;
    saveModel(outputPath("model.safetensors"), *model_, modelSpec_, trainingData_.standardization);
    ordered_json summary{
        {"world_size", summary_.worldSize},
        {"steps", summary_.steps},
        {"epochs", summary_.epochs},
        {"final_train_loss", summary_.finalTrainLoss},
        {"val_loss", summary_.valLoss},
        {"val_accuracy", valAccuracyJson()},
        {"samples_per_sec", summary_.samplesPerSec},
        {"training_seconds", summary_.trainingSeconds},
        {"training_cpu_seconds", summary_.trainingCpuSeconds},
        {"exposed_comm_seconds", summary_.exposedCommSeconds},
        {"input_wait_seconds", summary_.inputWaitSeconds},
        {"peak_rss_mib", summary_.peakRssMib},
        {"heap_free_mib", summary_.heapFreeMib},
        {"wall_seconds", summary_.wallSeconds},
        {"device", device_.str()},
        {"backend", data_.backendName()},
        {"model", modelSpec_.kind},
        {"train", trainSource()},
        {"train_samples",
         trainingData_.train ? nlohmann::json(trainingData_.train->size()) : nlohmann::json()},
        {"val_samples", trainingData_.validation->size()},
        {"data_workers", prefetchOptions().workers},
        {"global_batch", config_.batchSize * config_.gradAccum * dataReplicas()},
        {"gradient_buckets", reducer_->buckets().size()},
        {"largest_bucket_bytes", largestBucketBytes()},
        {"allreduce", comm::algorithmName(reducerOptions_.algorithm)},
        {"overlap", reducerOptions_.overlap},
        {"grad_compression", ddp::compressionName(reducerOptions_.compression)},
        {"seed", config_.seed},
        {"resumed_from", resumedFrom_.empty() ? nlohmann::json() : nlohmann::json(resumedFrom_)},
        {"resumed_at_step", start_.step},
        {"checkpoints_written", checkpointer_->written()},
        {"checkpoint_failures", checkpointer_->failures()},
        {"skipped_steps", skippedSteps_},
        {"precision", precisionName(config_.precision)},
        {"loss_scale", scaler_.enabled() ? nlohmann::json(scaler_.scale()) : nlohmann::json()},
        {"overflow_steps", overflowSteps_},
        {"stopped_by", stopReason_.empty() ? nlohmann::json() : nlohmann::json(stopReason_)},
        {"pipeline", pipelineReport}};
    if (!hooks_.metrics.empty()) summary["val_metrics"] = valMetrics_;
    writeFileAtomically(outputPath("summary.json"), summary.dump(2) + "\n");
    log_->info("done: " + formatKeyValues(ordered_json{{"steps", summary_.steps},
                                                       {"epochs", summary_.epochs},
                                                       {"val_accuracy", valAccuracyJson()},
                                                       {"val_loss", summary_.valLoss},
                                                       {"samples_per_sec", summary_.samplesPerSec},
                                                       {"wall_seconds", summary_.wallSeconds}}));
    log_->info("artifacts: " + outputPath("model.safetensors") + " " + outputPath("summary.json") +
               " " + outputPath("metrics.jsonl"));
  }

  const TrainConfig config_;  // as given, with the defaults pipeline mode implies
  const TrainHooks hooks_;
  // What --drop-last said: a checkpoint's identity, so that pipeline and data-parallel runs
  // resume each other's checkpoints although pipeline mode always drops incomplete batches.
  const bool requestedDropLast_;
  const ddp::ReducerOptions reducerOptions_;  // config_.reducer with overlap decided
  double trainingCpuSeconds_ = 0;
  double inputWaitSeconds_ = 0;  // the training loop waiting for batches
  comm::Communicator& control_;
  comm::Communicator& host_;
  comm::Communicator& data_;
  c10::Device device_;

  TrainingData trainingData_;
  models::ModelSpec modelSpec_;
  std::shared_ptr<models::Classifier> model_;
  ddp::NamedParameters parameters_;
  ddp::NamedParameters buffers_;  // the floating-point ones this rank holds (of its stage)
  std::vector<at::Tensor> parameterTensors_;
  pipeline::PipelineGrid grid_;  // 1 stage unless --pipeline-stages
  // Before the reducer, which uses its communicators: destroyed after it.
  std::unique_ptr<PipelineParallel> pipeline_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<ddp::Reducer> reducer_;
  // Rank 0 of a pipeline: the whole model's optimizer state, assembled for checkpoints.
  std::unique_ptr<torch::optim::Optimizer> wholeOptimizer_;
  std::unique_ptr<RunLog> log_;
  std::unique_ptr<Checkpointer> checkpointer_;
  TrainingPosition start_;  // where this run picks up: step 0, or a checkpoint's position
  std::string resumedFrom_;
  bool stopRequested_ = false;  // some rank got a stop signal; all stop after the same step
  std::string stopReason_;
  LrSchedule schedule_;

  int64_t stepsPerEpoch_ = 0;  // of a whole epoch at this run's world size and batch
  int64_t totalSteps_ = 0;
  int64_t epochsToRun_ = 0;
  int64_t step_ = 0;

  int64_t skippedSteps_ = 0;  // updates dropped for non-finite loss or gradients
  int consecutiveSkips_ = 0;
  LossScaler scaler_{config_.precision == Precision::kFp16, config_.lossScaling};
  int64_t overflowSteps_ = 0;  // fp16 updates skipped for overflowing gradients
  double windowLoss_ = 0;
  int64_t windowSteps_ = 0;
  int64_t windowSamples_ = 0;
  Clock::time_point windowStart_ = Clock::now();
  double globalSamples_ = 0;
  RunSummary summary_;
  ordered_json valMetrics_;  // the hooks' metrics at the last evaluation
};

}  // namespace

RunSummary runTraining(const TrainConfig& config, const Communicators& communicators,
                       const platform::Placement& placement, const TrainHooks& hooks) {
  if (config.model.kind == "autoencoder" && !hooks.makeModel) {
    TrainHooks reconstruction = reconstructionHooks();
    if (hooks.loss) reconstruction.loss = hooks.loss;
    for (const auto& metric : hooks.metrics) reconstruction.metrics.push_back(metric);
    return Trainer(config, communicators, placement, reconstruction).run();
  }
  return Trainer(config, communicators, placement, hooks).run();
}

TrainHooks reconstructionHooks() {
  TrainHooks hooks;
  hooks.target = [](const data::Batch& batch) {
    return batch.features.reshape({batch.features.size(0), -1});
  };
  hooks.loss = [](const at::Tensor& output, const at::Tensor& target) {
    return at::mse_loss(output, target.to(output.scalar_type()));
  };
  hooks.metrics.emplace_back("reconstruction_error",
                             [](const at::Tensor& output, const at::Tensor& target) {
                               return at::mse_loss(output, target, at::Reduction::Sum) /
                                      static_cast<double>(target[0].numel());
                             });
  return hooks;
}

}  // namespace ringtrain::train
