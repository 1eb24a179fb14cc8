#include "RunReport.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "ModelFlops.h"
#include "RunSettings.h"
#include "TrainSetup.h"
#include "comm/ShardedCollectives.h"
#include "io/JobOutputs.h"
#include "platform/CudaStack.h"
#include "platform/CudaStream.h"
#include "platform/Resources.h"
#include "train/RunLog.h"
#include "util/Files.h"

namespace ringtrain::train {
namespace {

using ordered_json = nlohmann::ordered_json;

std::string describeLayout(const nlohmann::json& layout) {
  std::ostringstream text;
  text << layout.value("world_size", 0) << " ranks";
  if (layout.contains("pipeline_stages")) text << " in " << layout["pipeline_stages"] << " stages";
  text << ", batch " << layout.value("batch_size", 0) << ", accumulation "
       << layout.value("grad_accum", 0);
  return text.str();
}

std::string describeInput(const data::PrefetchOptions& options) {
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

int64_t largestBucketBytes(const ddp::Reducer& reducer) {
  int64_t largest = 0;
  for (const auto& bucket : reducer.buckets()) largest = std::max(largest, bucket.bytes());
  return largest;
}

std::string describeReducer(const RunFacts& run) {
  const ddp::ReducerOptions& options = run.reducer;
  const auto& buckets = run.strategy.reducer().buckets();
  std::ostringstream text;
  text << buckets.size() << " bucket(s) (first " << buckets.front().bytes() / 1024
       << " KiB, largest " << largestBucketBytes(run.strategy.reducer()) / 1024 << " KiB)";
  text << ", allreduce " << comm::algorithmName(options.algorithm);
  if (options.algorithm == comm::AllReduceAlgorithm::kAuto) {
    const bool sharded = !run.strategy.describeSharding().empty();
    if (!run.gradients.reducesOnHost() || (sharded && run.device.is_cuda())) {
      text << " (native)";
    } else if (sharded) {
      text << " (reduce-scatter and all-gather: the ring's for buckets from "
           << (comm::kAutoRingHalvesFromBytes >> 10) << " KiB, native below)";
    } else {
      text << " (ring for buckets from " << (options.ring.autoRingFromBytes >> 20)
           << " MiB, native below)";
    }
  }
  text << ", overlap " << (options.overlap ? "on" : "off")
       << (overlapExcluded(run.config, run.gradients)
               ? " (pipeline stages communicate during backward)"
           : options.overlapMode == ddp::OverlapMode::kAuto
               ? (options.overlap ? " (auto)" : " (auto: no spare core for communication)")
               : "")
       << ", compression " << ddp::compressionName(options.compression)
       << (options.findUnusedParameters ? ", unused parameters reduced as zeros" : "");
  return text.str();
}

std::string describeResume(const RunFacts& run) {
  std::ostringstream text;
  text << "resumed from " << run.resumedFrom << " at step " << run.start.step << " (epoch "
       << run.start.epoch + 1;
  if (run.data.train) {
    text << ", sample " << run.start.samplesInEpoch << " of " << run.data.train->size() << ")";
  } else {
    text << ", its stream read again from the start)";
  }
  const nlohmann::json layout = layoutOf(run.config, run.worldSize);
  if (run.start.layout != layout) {
    text << "; written at " << describeLayout(run.start.layout) << ", continuing at "
         << describeLayout(layout);
  }
  return text.str();
}

int64_t globalBatch(const RunFacts& run) {
  return run.config.batchSize * run.config.gradAccum * run.dataReplicas;
}

// Accuracy means something only where the targets are class labels.
// Null for what was never measured: a 0 would read as a result (and be recorded as one by
// SageMaker's metric definitions).
nlohmann::json accuracyJson(const RunFacts& run, const RunSummary& summary) {
  const bool measured = run.classifies && summary.validatedAtStep >= 0;
  return measured ? nlohmann::json(summary.valAccuracy) : nlohmann::json();
}

nlohmann::json valLossJson(const RunSummary& summary) {
  return summary.validatedAtStep >= 0 ? nlohmann::json(summary.valLoss) : nlohmann::json();
}

// exp(loss) and loss / ln 2 for a language model's validation loss (mean cross-entropy in nats
// per token), null otherwise.
nlohmann::json perplexityJson(const RunFacts& run, const RunSummary& summary) {
  const bool measured = run.languageModel && summary.validatedAtStep >= 0;
  return measured ? nlohmann::json(perplexityOf(summary.valLoss)) : nlohmann::json();
}

nlohmann::json bitsPerTokenJson(const RunFacts& run, const RunSummary& summary) {
  const bool measured = run.languageModel && summary.validatedAtStep >= 0;
  return measured ? nlohmann::json(bitsPerTokenOf(summary.valLoss)) : nlohmann::json();
}

nlohmann::json tokensPerSecJson(const RunFacts& run, const RunSummary& summary) {
  return run.tokensPerSample > 0 ? nlohmann::json(summary.tokensPerSec) : nlohmann::json();
}

// This rank's GPU memory high-water mark (the caching allocator's allocated bytes); null on CPU.
nlohmann::json peakGpuMemoryMib(const c10::Device& device) {
  if (!device.is_cuda()) return nullptr;
  return static_cast<double>(platform::peakCudaMemoryBytes(device.index())) / (1024.0 * 1024.0);
}

nlohmann::json orNull(const std::string& text) {
  return text.empty() ? nlohmann::json() : nlohmann::json(text);
}

}  // namespace

std::string banner(const RunFacts& run, torch::nn::Module& model) {
  int64_t parameterCount = 0;
  for (const at::Tensor& tensor : model.parameters()) parameterCount += tensor.numel();
  const TrainConfig& config = run.config;
  const LossScaler& scaler = run.guard.scaler();
  const bool pipelined = config.pipeline.stages > 1;
  std::ostringstream line;
  line << "ringtrain: " << run.worldSize << " rank(s), device " << run.device << ", backend "
       << run.gradients.backendName() << ", " << at::get_num_threads() << " thread(s) per rank\n"
       << (run.device.is_cuda()
               ? "  " + platform::describeCudaStack(platform::cudaStack(platform::probeCuda())) +
                     "\n"
               : "")
       << "  model "
       << (run.model.kind == models::ModelKind::kSpec ? "from " + run.model.networkSource
                                                      : models::modelKindName(run.model.kind))
       << " (" << parameterCount << " parameters, " << run.model.numClasses << " classes)\n"
       << "  train " << run.trainSource << ": "
       << (run.data.train ? std::to_string(run.data.train->size()) + " samples"
                          : "a stream per epoch, read by local rank 0 of each host")
       << (config.sharding == DataSharding::kHost ? " on this host (data sharded by host)" : "")
       << "; validation "
       << (run.data.validation ? run.data.validation->source() + ": " +
                                     std::to_string(run.data.validation->size()) + " samples"
                               : std::string("none (--val none)"))
       << "\n"
       << "  input: " << describeInput(run.prefetch) << "\n"
       << (config.epochs == 0 && config.maxSteps == 0
               ? "  no steps (--max-steps 0 or --epochs 0): the model is written as initialised, "
                 "or as "
                 "--init-from gave it\n"
               : "")
       << "  " << run.plan.epochsToRun << " epoch(s) x "
       << (run.data.train ? std::to_string(run.plan.stepsPerEpoch) + " steps"
                          : std::string("as many steps as each stream holds"))
       << ", global batch " << globalBatch(run) << ", lr " << run.baseLr << ", precision "
       << precisionName(config.precision)
       << (scaler.enabled() ? " (dynamic loss scaling from " +
                                  std::to_string(static_cast<int64_t>(scaler.scale())) + ")"
                            : std::string())
       << "\n  gradients" << (pipelined ? " of stage 0" : "") << ": " << describeReducer(run);
  if (const std::string sharding = run.strategy.describeSharding(); !sharding.empty()) {
    line << "\n  sharding: " << sharding;
  }
  if (pipelined) {
    line << "\n  pipeline: " << run.strategy.describe()
         << "; an epoch's incomplete last batch is dropped";
  }
  line << "\n  output " << run.outputDir << "\n  checkpoints: ";
  if (run.checkpointer.writes()) {
    line << "every " << config.checkpointEvery << " steps and at the end, into "
         << run.checkpointer.directory() << " (newest " << config.checkpointKeep << " kept)";
  } else {
    line << "at the end, into " << run.checkpointer.directory()
         << " (--checkpoint-every N adds more)";
  }
  if (!run.resumedFrom.empty()) line << "\n  " << describeResume(run);
  return line.str();
}

ordered_json summaryJson(const RunFacts& run, const RunOutcome& outcome) {
  const RunSummary& summary = outcome.summary;
  const TrainConfig& config = run.config;
  const LossScaler& scaler = run.guard.scaler();
  ordered_json json{
      {"world_size", summary.worldSize},
      {"steps", summary.steps},
      {"epochs", summary.epochs},
      {"final_train_loss",
       summary.steps > run.start.step ? nlohmann::json(summary.finalTrainLoss) : nlohmann::json()},
      {"val_loss", valLossJson(summary)},
      {"val_accuracy", accuracyJson(run, summary)},
      {"val_targets",
       summary.validatedAtStep >= 0 ? nlohmann::json(outcome.valTargets) : nlohmann::json()},
      {"validated_at_step",
       summary.validatedAtStep >= 0 ? nlohmann::json(summary.validatedAtStep) : nlohmann::json()},
      {"val_perplexity", perplexityJson(run, summary)},
      {"val_bits_per_token", bitsPerTokenJson(run, summary)},
      {"samples_per_sec", summary.samplesPerSec},
      {"tokens_per_sec", tokensPerSecJson(run, summary)},
      {"training_seconds", summary.trainingSeconds},
      {"training_cpu_seconds", summary.trainingCpuSeconds},
      {"exposed_comm_seconds", summary.exposedCommSeconds},
      {"input_wait_seconds", summary.inputWaitSeconds},
      {"peak_rss_mib", summary.peakRssMib},
      {"peak_gpu_memory_mib", peakGpuMemoryMib(run.device)},
      {"heap_free_mib", summary.heapFreeMib},
      {"wall_seconds", summary.wallSeconds},
      {"device", run.device.str()},
      {"backend", run.gradients.backendName()},
      {"model", models::modelKindName(run.model.kind)},
      {"train", run.trainSource},
      {"train_samples", run.data.train ? nlohmann::json(run.data.train->size()) : nlohmann::json()},
      {"val_samples",
       run.data.validation ? nlohmann::json(run.data.validation->size()) : nlohmann::json()},
      {"data_workers", run.prefetch.workers},
      {"global_batch", globalBatch(run)},
      {"gradient_buckets", run.strategy.reducer().buckets().size()},
      {"largest_bucket_bytes", largestBucketBytes(run.strategy.reducer())},
      {"allreduce", comm::algorithmName(run.reducer.algorithm)},
      {"overlap", run.reducer.overlap},
      {"grad_compression", ddp::compressionName(run.reducer.compression)},
      {"seed", config.seed},
      {"output_dir", run.outputDir},
      {"resumed_from", orNull(run.resumedFrom)},
      {"resumed_at_step", run.start.step},
      {"checkpoints_written", run.checkpointer.written()},
      {"final_checkpoint", orNull(outcome.finalCheckpoint)},
      {"checkpoint_failures", run.checkpointer.failures()},
      {"skipped_steps", run.guard.skippedSteps()},
      {"precision", precisionName(config.precision)},
      {"loss_scale", scaler.enabled() ? nlohmann::json(scaler.scale()) : nlohmann::json()},
      {"overflow_steps", run.guard.overflowSteps()},
      {"stopped_by", orNull(outcome.stoppedBy)},
      {"zero", config.zeroStage},
      {"memory", outcome.strategyReport.at("memory")},
      {"rank_step_ms", run.meter.rankStepTimes()},
      {"pipeline", outcome.strategyReport.at("pipeline")}};
  if (outcome.hasMetrics) json["val_metrics"] = outcome.valMetrics;
  json["settings"] = settingsOf(config);
  return json;
}

void recordTimes(double globalSamples, double trainingSeconds, double wallSeconds,
                 int64_t tokensPerSample, RunSummary& summary) {
  summary.samplesPerSec = trainingSeconds > 0 ? globalSamples / trainingSeconds : 0;
  summary.tokensPerSec = summary.samplesPerSec * static_cast<double>(tokensPerSample);
  summary.trainingSeconds = trainingSeconds;
  summary.wallSeconds = wallSeconds;
}

void recordValidation(const Evaluation& result, int64_t step, RunSummary& summary) {
  summary.valLoss = result.loss;
  summary.valAccuracy = result.accuracy;
  summary.validatedAtStep = step;
}

void gatherWorstFigures(comm::Communicator& control, double exposedCommSeconds,
                        double trainingCpuSeconds, double inputWaitSeconds, RunSummary& summary) {
  const at::Tensor mine = at::tensor(
      {exposedCommSeconds, platform::peakResidentBytes() / (1024.0 * 1024.0), trainingCpuSeconds,
       platform::heapFreeBytes() / (1024.0 * 1024.0), inputWaitSeconds},
      at::kDouble);
  const at::Tensor worst = std::get<0>(control.allGather(mine).max(0));
  summary.exposedCommSeconds = worst[0].item<double>();
  summary.peakRssMib = worst[1].item<double>();
  summary.trainingCpuSeconds = worst[2].item<double>();
  summary.heapFreeMib = worst[3].item<double>();
  summary.inputWaitSeconds = worst[4].item<double>();
}

ordered_json resumeRecord(const TrainingPosition& start, const std::string& checkpoint) {
  return {{"step", start.step},
          {"epoch", start.epoch},
          {"event", "resumed"},
          {"checkpoint", checkpoint}};
}

ordered_json validationRecord(int64_t epoch, const RunFacts& run, const RunSummary& summary,
                              const ordered_json& metrics, int64_t targets) {
  ordered_json entry{
      {"step", summary.validatedAtStep}, {"epoch", epoch + 1}, {"val_loss", summary.valLoss}};
  if (run.classifies) entry["val_accuracy"] = summary.valAccuracy;
  if (run.languageModel) {
    entry["val_perplexity"] = perplexityJson(run, summary);
    entry["val_bits_per_token"] = bitsPerTokenJson(run, summary);
  }
  for (const auto& [name, value] : metrics.items()) entry["val_" + name] = value;
  entry["val_targets"] = targets;
  return entry;
}

void writeSummary(const RunFacts& run, const RunOutcome& outcome, RunLog& log) {
  const std::string directory = run.outputDir + "/";
  io::finishJob({directory + "summary.json",
                 summaryJson(run, outcome),
                 doneFigures(run, outcome.summary),
                 {directory + "model.safetensors", directory + "metrics.jsonl"}},
                [&log](const std::string& line) { log.info(line); });
}

ordered_json doneFigures(const RunFacts& run, const RunSummary& summary) {
  ordered_json figures{{"steps", summary.steps},
                       {"epochs", summary.epochs},
                       {"val_accuracy", accuracyJson(run, summary)},
                       {"val_loss", valLossJson(summary)}};
  if (run.languageModel) figures["val_bits_per_token"] = bitsPerTokenJson(run, summary);
  figures["samples_per_sec"] = summary.samplesPerSec;
  if (run.tokensPerSample > 0) figures["tokens_per_sec"] = summary.tokensPerSec;
  figures["wall_seconds"] = summary.wallSeconds;
  return figures;
}

void TrainingMeter::startEpoch() {
  epochLoss_ = 0;
  epochSteps_ = 0;
}

void TrainingMeter::add(const StepOutcome& outcome, bool applied, int64_t samples) {
  if (applied) {
    epochLoss_ += outcome.loss;
    ++epochSteps_;
    windowLoss_ += outcome.loss;
    windowGradNorm_ += outcome.gradNorm;
    ++windowSteps_;
  }
  ++windowAllSteps_;
  windowSamples_ += samples;
  globalSamples_ += static_cast<double>(samples);
}

std::optional<double> TrainingMeter::windowLoss() const {
  if (windowSteps_ == 0) return std::nullopt;
  return windowLoss_ / static_cast<double>(windowSteps_);
}

std::optional<ordered_json> TrainingMeter::takeWindow(int64_t step, int64_t epoch, double lr) {
  if (windowSteps_ == 0) return std::nullopt;
  const double seconds = std::chrono::duration<double>(Clock::now() - windowStart_).count();
  const double samplesPerSecond = seconds > 0 ? windowSamples_ / seconds : 0.0;
  ordered_json entry{{"step", step},
                     {"epoch", epoch + 1},
                     {"loss", windowLoss_ / static_cast<double>(windowSteps_)},
                     {"lr", lr},
                     {"grad_norm", windowGradNorm_ / static_cast<double>(windowSteps_)},
                     {"step_ms", 1000 * seconds / static_cast<double>(windowAllSteps_)},
                     {"samples_per_sec", samplesPerSecond}};
  if (sources_.tokensPerSample > 0) {
    entry["tokens_per_sec"] = samplesPerSecond * static_cast<double>(sources_.tokensPerSample);
  }
  addSources(seconds, samplesPerSecond, entry);
  if (stragglers_) entry = stragglers_->annotate(std::move(entry), seconds, windowSteps_);
  windowLoss_ = 0;
  windowGradNorm_ = 0;
  windowSteps_ = 0;
  windowAllSteps_ = 0;
  windowSamples_ = 0;
  windowStart_ = Clock::now();
  return entry;
}

void TrainingMeter::addSources(double seconds, double samplesPerSecond, ordered_json& entry) {
  if (sources_.peakFlops > 0 && sources_.flopsPerSample > 0) {
    entry["mfu"] = samplesPerSecond * sources_.flopsPerSample /
                   (sources_.peakFlops * static_cast<double>(sources_.devices));
  }
  if (sources_.waits) {
    const double waited = sources_.waits->exposedSeconds;
    entry["comm_share"] = seconds > 0 ? (waited - waitedBefore_) / seconds : 0.0;
    waitedBefore_ = waited;
  }
  if (sources_.scaler) entry["loss_scale"] = sources_.scaler->scale();
  if (sources_.device) {
    const int64_t bytes = sources_.device->is_cuda()
                              ? platform::cudaMemoryBytes(sources_.device->index())
                              : platform::residentBytes();
    entry["mem_mib"] = static_cast<double>(bytes) / (1024.0 * 1024.0);
  }
}

TrainingMeter meterFor(const RunFacts& run, comm::Communicator& control, RunLog& log) {
  MeterSources sources;
  sources.tokensPerSample = run.tokensPerSample;
  const bool pipelined = run.config.pipeline.stages > 1;
  // On a GPU the host's wait in the reduction holds the rank's own device work too; in a
  // pipeline the stages also wait for each other outside it.
  if (!run.device.is_cuda() && !pipelined && run.worldSize > 1) {
    sources.waits = &run.strategy.reducer().stats();
  }
  if (run.guard.scaler().enabled()) sources.scaler = &run.guard.scaler();
  sources.device = run.device;
  // The count (ModelFlops.h) holds for dense layers and transformers, not for convolutions,
  // which use each weight at every position.
  const models::ModelKind kind = run.model.kind;
  const bool counted = kind == models::ModelKind::kMlp || kind == models::ModelKind::kGpt ||
                       kind == models::ModelKind::kAutoencoder;
  if (run.device.is_cuda() && !pipelined && counted) {
    const std::optional<double> peak =
        peakFlopsPerSecond(platform::cudaDeviceName(run.device.index()), run.config.precision);
    int64_t parameters = 0;
    for (const auto& [name, parameter] : run.strategy.parameters()) parameters += parameter.numel();
    sources.peakFlops = peak.value_or(0);
    sources.devices = run.worldSize;
    sources.flopsPerSample = trainingFlopsPerSample(
        parameters, run.tokensPerSample,
        run.model.kind == models::ModelKind::kGpt ? &run.model.gpt : nullptr);
  }
  return TrainingMeter(sources, watchStragglers(run.config, run.device, control,
                                                run.strategy.reducer().stats(), log));
}

nlohmann::ordered_json TrainingMeter::rankStepTimes() const {
  return stragglers_ ? stragglers_->report() : nlohmann::ordered_json();
}

std::optional<double> TrainingMeter::epochLoss() const {
  if (epochSteps_ == 0) return std::nullopt;
  return epochLoss_ / static_cast<double>(epochSteps_);
}

}  // namespace ringtrain::train
