#include "TrainSetup.h"

#include <ATen/ATen.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>

#include "DataIdentity.h"
#include "RunDirectory.h"
#include "RunReport.h"
#include "RunTrace.h"
#include "comm/CallLog.h"
#include "ddp/ParameterSync.h"
#include "health/FlightRecord.h"
#include "platform/StopSignals.h"
#include "ringtrain/comm/Agreement.h"
#include "ringtrain/data/DistributedSampler.h"
#include "ringtrain/util/Error.h"
#include "train/IndexedEpoch.h"
#include "util/Files.h"

namespace ringtrain::train {

void validateConfig(const TrainConfig& config) {
  RINGTRAIN_USER_CHECK(config.batchSize > 0, "--batch-size must be positive");
  RINGTRAIN_USER_CHECK(config.gradAccum > 0, "--grad-accum must be positive");
  RINGTRAIN_USER_CHECK(config.tracePath.empty() || comm::flightRecorderOn(),
                       "--trace draws on the flight recorder, which RINGTRAIN_FLIGHT_RECORDER=off "
                       "turns off");
  RINGTRAIN_USER_CHECK(config.epochs >= 0, "--epochs must not be negative");
  RINGTRAIN_USER_CHECK(config.maxSteps >= 0, "--max-steps must not be negative");
  RINGTRAIN_USER_CHECK(config.lr > 0 && std::isfinite(config.lr), "--lr must be positive");
  RINGTRAIN_USER_CHECK(config.warmupSteps >= 0, "--warmup-steps must not be negative");
  RINGTRAIN_USER_CHECK(config.clipGradNorm >= 0, "--clip-grad-norm must not be negative");
  RINGTRAIN_USER_CHECK(config.logEvery > 0, "--log-every must be positive");
  RINGTRAIN_USER_CHECK(config.evalBatchSize >= 0, "--eval-batch-size must not be negative");
  RINGTRAIN_USER_CHECK(config.valEvery >= 0, "--val-every must not be negative");
  RINGTRAIN_USER_CHECK(config.valMaxBatches >= 0, "--val-max-batches must not be negative");
  RINGTRAIN_USER_CHECK(config.checkpointEvery >= 0, "--checkpoint-every must not be negative");
  // Here, where every rank checks it together, before the update guard's loss scaler insists.
  RINGTRAIN_USER_CHECK(config.lossScaling.initialScale > 0 &&
                           config.lossScaling.initialScale >= config.lossScaling.smallestScale,
                       "--loss-scale must be at least " << config.lossScaling.smallestScale);
  RINGTRAIN_USER_CHECK(config.zeroStage >= 0 && config.zeroStage <= 2, "--zero must be 0, 1 or 2");
  RINGTRAIN_USER_CHECK(config.pipeline.stages == 1 || config.sharding == DataSharding::kGlobal,
                       "--pipeline-stages needs --data-sharding global: the stages of a "
                       "pipeline must read the same samples");
}

TrainConfig withImpliedSettings(TrainConfig config, const platform::Placement& placement,
                                bool report) {
  if (config.pipeline.stages > 1) config.dropLast = true;
  // On CPU, overlap needs a communication thread, which MPI_THREAD_SERIALIZED rules out.
  if (!placement.device.is_cuda() && !placement.communicationThread &&
      config.reducer.overlapMode != ddp::OverlapMode::kOff) {
    if (config.reducer.overlapMode == ddp::OverlapMode::kOn && report) {
      std::cerr << "ringtrain: warning: --overlap on ignored: this MPI library does not allow a "
                   "communication thread (MPI_THREAD_SERIALIZED)"
                << std::endl;
    }
    config.reducer.overlapMode = ddp::OverlapMode::kOff;
  }
  return config;
}

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

TrainHooks hooksFor(const TrainConfig& config, const TrainHooks& hooks) {
  if (config.model.kind != models::ModelKind::kAutoencoder || hooks.makeModel) return hooks;
  TrainHooks reconstruction = reconstructionHooks();
  if (hooks.loss) reconstruction.loss = hooks.loss;
  for (const auto& metric : hooks.metrics) reconstruction.metrics.push_back(metric);
  return reconstruction;
}

models::ModelSpec modelSpecFor(const TrainConfig& config, const TrainingData& data,
                               const TrainHooks& hooks) {
  models::ModelSpec spec = config.model;
  spec.inputShape = data.train ? data.train->sampleShape() : data.validation->sampleShape();
  spec.numClasses = data.numClasses;
  if (hooks.makeModel) {
    spec.kind = models::ModelKind::kCustom;
    spec.hidden.clear();
  }
  return spec;
}

void checkTargets(const models::ModelSpec& spec, const models::Classifier& model,
                  const TrainingData& data, const TrainHooks& hooks) {
  if (!model.predictsEveryPosition() || hooks.target) return;
  const std::string what = spec.kind == models::ModelKind::kGpt ? "--model gpt"
                           : spec.kind == models::ModelKind::kSpec
                               ? "--model-spec " + spec.networkSource
                               : "the model";
  const std::string remedy =
      spec.kind == models::ModelKind::kSpec
          ? ": end the network with SelectToken for one prediction per sample, or train on "
            "a token data set (ringtrain prep --format text)"
          : " (prepare text with ringtrain prep --format text)";
  RINGTRAIN_USER_CHECK(data.train, what << " learns the next token at every position of a token "
                                           "window, and a stream (pipe:) carries one label per "
                                           "sample: train on the token data set's directory");
  for (const auto* source : {data.train.get(), data.validation.get()}) {
    if (!source) continue;
    RINGTRAIN_USER_CHECK(source->targetLength() > 0,
                         what << " learns the next token at every position of a token window, "
                                 "but "
                              << source->source()
                              << " is not a token data set: it has one label per sample" << remedy);
  }
}

std::unique_ptr<EpochInput> openEpoch(const EpochSource& source, int64_t epoch,
                                      int64_t firstSample) {
  const TrainConfig& config = source.config;
  if (!source.data.train) {
    // Pipe mode numbers a container's streams from _0, also after a restart that resumed.
    const StreamPlan plan = streamPlan(config, source.model, *source.data.trainStream,
                                       epoch - source.firstEpoch, source.device.is_cuda());
    return std::make_unique<StreamedEpoch>(plan, source.host, source.control);
  }
  IndexedEpochPlan plan;
  const int64_t samples = source.data.train->size();
  plan.shard = {samples, source.sharers, source.sharerRank, config.seed,
                epoch,   config.shuffle, config.dropLast,   std::min(firstSample, samples)};
  plan.batchSize = config.batchSize;
  plan.gradAccum = config.gradAccum;
  plan.microBatches =
      agreedMicroBatches(config, source.control, source.sharers, samples, plan.shard.firstSample);
  return std::make_unique<IndexedEpoch>(source.data.train, plan, source.prefetch);
}

void checkHostsAlike(comm::Communicator& control) {
  at::Tensor sizes = at::full({2}, control.topology().localSize, at::kLong);
  sizes[1] = -sizes[1];
  control.allReduce(sizes, comm::ReduceOp::kMax);
  if (sizes[0].item<int64_t>() == -sizes[1].item<int64_t>()) return;
  throw comm::CollectiveFailure(
      "--data-sharding host needs the same number of ranks on every "
      "host; they have between " +
          std::to_string(-sizes[1].item<int64_t>()) + " and " +
          std::to_string(sizes[0].item<int64_t>()),
      control.rank() == 0, 2);
}

int64_t agreedMicroBatches(const TrainConfig& config, comm::Communicator& control, int sharers,
                           int64_t samples, int64_t firstSample) {
  const int64_t perRank =
      data::samplesPerRank(samples - std::min(samples, firstSample), sharers, config.dropLast);
  const int64_t mine = microBatchesFor(perRank, config.batchSize, config.dropLast);
  if (config.sharding != DataSharding::kHost) return mine;
  at::Tensor value = at::full({1}, mine, at::kLong);
  control.allReduce(value, comm::ReduceOp::kMin);
  return value.item<int64_t>();
}

std::optional<EpochSteps> agreedEpochSteps(const TrainConfig& config, comm::Communicator& control,
                                           int sharers, const TrainingData& data,
                                           const TrainingPosition& start) {
  if (!data.train) return std::nullopt;
  const int64_t samples = data.train->size();
  const auto steps = [&](int64_t firstSample) {
    return stepsFor(agreedMicroBatches(config, control, sharers, samples, firstSample),
                    config.gradAccum);
  };
  const int64_t whole = steps(0);
  return EpochSteps{whole, steps(start.samplesInEpoch)};
}

StreamPlan streamPlan(const TrainConfig& config, const models::ModelSpec& spec,
                      const std::string& prefix, int64_t epochOfRun, bool pinned) {
  StreamPlan plan;
  plan.path = prefix + "_" + std::to_string(epochOfRun);
  plan.sampleShape = spec.inputShape;
  plan.numClasses = spec.numClasses;
  plan.batchSize = config.batchSize;
  plan.gradAccum = config.gradAccum;
  plan.dropLast = config.dropLast;
  plan.pinned = pinned;
  return plan;
}

std::string agreeOnStop(comm::Communicator& control, int64_t step, int64_t totalSteps,
                        RunLog& log) {
  // Which signal, and which rank got it, is worth the two small collectives of a once-only event.
  const int local = platform::stopSignalReceived();
  at::Tensor signal = at::full({1}, static_cast<int64_t>(local), at::kLong);
  control.allReduce(signal, comm::ReduceOp::kMax);
  at::Tensor firstRank = at::full({1}, local != 0 ? control.rank() : control.size(), at::kLong);
  control.allReduce(firstRank, comm::ReduceOp::kMin);
  const std::string reason = platform::signalName(static_cast<int>(signal.item<int64_t>()));
  log.info("stopping at step " + std::to_string(step) + " of " + std::to_string(totalSteps) + ": " +
           reason + " received by rank " + std::to_string(firstRank.item<int64_t>()) +
           "; resume with the same command");
  return reason;
}

data::PrefetchOptions prefetchOptions(const TrainConfig& config, c10::Device device,
                                      bool readsFromDisk) {
  data::PrefetchOptions options;
  // On CPU a worker costs a core's share; it pays where batches wait for the disk (measured in
  // docs/BENCHMARKS.md: the loop waited 4% of a 10 ms step without one, 0.5% with one).
  options.workers = config.dataWorkers >= 0 ? config.dataWorkers
                    : device.is_cuda()      ? 2
                    : readsFromDisk         ? 1
                                            : 0;
  options.depth = std::max(2, 2 * options.workers);
  options.pinned = device.is_cuda();
  return options;
}

nlohmann::json layoutOf(const TrainConfig& config, int worldSize) {
  nlohmann::json layout{{"world_size", worldSize},
                        {"batch_size", config.batchSize},
                        {"grad_accum", config.gradAccum}};
  if (config.pipeline.stages > 1) layout["pipeline_stages"] = config.pipeline.stages;
  return layout;
}

std::unique_ptr<RunLog> openRunLog(const RunPlace& place, bool rankZero,
                                   const TrainConfig& config) {
  if (rankZero) ensureWritableDirectory(place.outputDir, "--output-dir");
  auto log = std::make_unique<RunLog>(rankZero, place.outputDir + "/metrics.jsonl",
                                      showProgressBar(config.progress), place.continuesAfterStep,
                                      resolvedInRun(config.tensorboardDir, place.outputDir));
  for (const std::string& note : place.notes) log->info(note);
  for (const std::string& warning : place.warnings) log->warn(warning);
  return log;
}

void acceptStart(const TrainConfig& config, comm::Communicator& control,
                 const Checkpointer& checkpointer, const RunPlan& plan, const RunStart& start,
                 RunLog& log) {
  comm::runOnAllRanks(control, [&] {
    checkpointer.checkPosition(start.position.step, plan.startsAtTheEnd, plan.startsPastTheEnd,
                               start.place.outputDir);
    log.openMetrics();
  });
  // A failure from now on leaves each rank's flight record there, not an earlier run's.
  const std::string outputDir = comm::broadcastString(control, start.place.outputDir, 0);
  health::setFlightRecordDirectory(outputDir, /*clearOld=*/control.rank() == 0);
  startTrace(config, plan, start.position.step, outputDir, log);
  if (!start.resumedFrom.empty()) {
    log.record(resumeRecord(start.position, start.resumedFrom), /*printLine=*/false);
  }
  if (control.rank() != 0 || !start.place.fresh ||
      pointLatestAt(kRunsDirectory, start.place.outputDir)) {
    return;
  }
  log.warn(std::string(kLatestRun) +
           " is not a link made by ringtrain (a directory of an "
           "earlier version?), so it was left as it is; this run is in " +
           start.place.outputDir);
}

nlohmann::json runIdentity(const TrainConfig& config, bool requestedDropLast,
                           const models::ModelSpec& spec, models::Classifier& model,
                           const TrainingData& data) {
  const bool hostSharded = config.sharding == DataSharding::kHost;
  nlohmann::json identity{{"model", models::modelKindName(spec.kind)},
                          {"hidden", spec.hidden},
                          {"input_shape", spec.inputShape},
                          {"num_classes", spec.numClasses},
                          {"optimizer", config.optimizer},
                          {"train", dataIdentity(config.trainSpec, hostSharded)},
                          {"seed", config.seed},
                          {"shuffle", config.shuffle},
                          {"drop_last", requestedDropLast}};
  if (spec.kind == models::ModelKind::kGpt)
    identity["gpt"] = {spec.gpt.layers, spec.gpt.width, spec.gpt.heads};
  // The network itself, not its file's name or layout.
  if (spec.kind == models::ModelKind::kSpec)
    identity["network"] = nlohmann::json::parse(spec.network);
  if (spec.kind == models::ModelKind::kCustom) {
    ddp::NamedParameters named;
    for (const auto& item : model.named_parameters()) named.emplace_back(item.key(), item.value());
    identity["parameters"] = ddp::describeParameters(named);
  }
  // Hosts hold different files, which may change between restarts.
  if (hostSharded) identity["data_sharding"] = "host";
  if (!hostSharded && data.train) identity["train_samples"] = data.train->size();
  // Before, a GPT learned the last position only: its checkpoints continue another objective.
  if (model.predictsEveryPosition()) identity["targets"] = "every_position";
  return identity;
}

}  // namespace ringtrain::train
