// What a training run says about itself: the start-up banner, the metrics.jsonl line of the steps
// since the last one, summary.json (with the figures gathered from every rank) and the closing
// lines. The trainer decides when, and rank 0 writes.
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "Evaluator.h"
#include "RunPlan.h"
#include "StepStrategy.h"
#include "Stragglers.h"
#include "UpdateGuard.h"
#include "data/BatchPrefetcher.h"
#include "train/TrainingData.h"

namespace ringtrain::train {

// The facts of a run the banner and summary.json report.
class TrainingMeter;

struct RunFacts {
  const TrainConfig& config;
  const models::ModelSpec& model;
  const TrainingData& data;
  const StepStrategy& strategy;
  const comm::Communicator& gradients;  // the data communicator
  const Checkpointer& checkpointer;
  const UpdateGuard& guard;
  c10::Device device;
  int worldSize = 1;
  int dataReplicas = 1;  // ranks, or whole pipelines
  std::string trainSource;
  data::PrefetchOptions prefetch;
  ddp::ReducerOptions reducer;
  const TrainingMeter& meter;
  RunPlan plan;
  double baseLr = 0;
  TrainingPosition start;
  std::string resumedFrom;  // empty: a fresh start
  std::string outputDir;
  bool classifies = true;       // the targets are class labels: accuracy is reported
  int64_t tokensPerSample = 0;  // token data sets: the window's length
  // Tokens scored by cross-entropy: perplexity and bits per token are reported.
  bool languageModel = false;
};

// The lines rank 0 prints before the first step.
std::string banner(const RunFacts& run, torch::nn::Module& model);

// What the run did, for summary.json: `run`'s facts with the summary's figures.
struct RunOutcome {
  const RunSummary& summary;
  const nlohmann::ordered_json& valMetrics;      // the hooks' metrics at the last evaluation
  int64_t valTargets = 0;                        // what the last evaluation scored
  const nlohmann::ordered_json& strategyReport;  // StepStrategy::report
  std::string stoppedBy;                         // empty: ran to the end
  std::string finalCheckpoint;                   // the last one written or resumed from
  bool hasMetrics = false;                       // TrainHooks named metrics
};
nlohmann::ordered_json summaryJson(const RunFacts& run, const RunOutcome& outcome);

// The run's time, its training time and the samples and tokens per second of that, into
// `summary`.
void recordTimes(double globalSamples, double trainingSeconds, double wallSeconds,
                 int64_t tokensPerSample, RunSummary& summary);

// An evaluation's loss and accuracy, at `step`, into `summary`.
void recordValidation(const Evaluation& result, int64_t step, RunSummary& summary);

// Collective: the worst over ranks of the figures each rank measured itself (exposed
// communication, peak and free memory, CPU time, waiting for input), into `summary`.
void gatherWorstFigures(comm::Communicator& control, double exposedCommSeconds,
                        double trainingCpuSeconds, double inputWaitSeconds, RunSummary& summary);

// The metrics.jsonl record of a resumed run's start.
nlohmann::ordered_json resumeRecord(const TrainingPosition& start, const std::string& checkpoint);

// The metrics.jsonl record of the validation after `epoch` (0-based).
// `targets`: what it scored.
nlohmann::ordered_json validationRecord(int64_t epoch, const RunFacts& run,
                                        const RunSummary& summary,
                                        const nlohmann::ordered_json& metrics, int64_t targets);

// Rank 0: summary.json in the run's output directory, then the "done:" and "artifacts:" lines.
void writeSummary(const RunFacts& run, const RunOutcome& outcome, RunLog& log);

// The figures of the "done:" line: steps, epochs, val_accuracy, val_loss, samples_per_sec,
// wall_seconds; for a language model val_bits_per_token and tokens_per_sec too.
nlohmann::ordered_json doneFigures(const RunFacts& run, const RunSummary& summary);

// What a metrics line reports beyond the loss, the gradient norm, the step time and the
// throughput, where the run has it.
struct MeterSources {
  int64_t tokensPerSample = 0;  // > 0: throughput in tokens too
  // comm_share: the share of the window this rank waited for gradient communication.
  const ddp::ReducerStats* waits = nullptr;
  const LossScaler* scaler = nullptr;  // fp16: loss_scale
  // mem_mib: the memory in use, the device's or (on CPU) the process's.
  std::optional<c10::Device> device;
  // mfu: model FLOPs utilisation over `devices` devices of `peakFlops` each (ModelFlops.h).
  double flopsPerSample = 0;
  double peakFlops = 0;
  int devices = 1;
};

// Loss, gradient norm, step time and throughput over the steps since the last metrics.jsonl line,
// and the loss of the epoch.
class TrainingMeter {
 public:
  // The first window starts now. With `stragglers`, every window's entry names the slowest rank
  // (Stragglers.h), which makes takeWindow collective.
  explicit TrainingMeter(MeterSources sources = {},
                         std::unique_ptr<StragglerWatch> stragglers = nullptr)
      : sources_(sources), stragglers_(std::move(stragglers)) {}
  void startEpoch();
  // After a step: its loss and gradient norm count when its update went in; `samples` over all
  // replicas.
  void add(const StepOutcome& outcome, bool applied, int64_t samples);
  // The mean loss of the window, for the progress bar; nullopt before a step counted.
  std::optional<double> windowLoss() const;
  // Takes `pause` (time spent on something else: validation) out of the window's time.
  void leaveOut(std::chrono::steady_clock::duration pause) { windowStart_ += pause; }
  // The metrics.jsonl entry of the window, which starts again; nullopt when no step counted.
  std::optional<nlohmann::ordered_json> takeWindow(int64_t step, int64_t epoch, double lr);
  std::optional<double> epochLoss() const;
  double globalSamples() const { return globalSamples_; }
  // For summary.json: each rank's own time per step (StragglerWatch::report), or null.
  nlohmann::ordered_json rankStepTimes() const;

 private:
  using Clock = std::chrono::steady_clock;
  // The sources' figures for a window of `seconds` at `samplesPerSecond`, into `entry`.
  void addSources(double seconds, double samplesPerSecond, nlohmann::ordered_json& entry);

  MeterSources sources_;
  double windowLoss_ = 0;
  double windowGradNorm_ = 0;
  int64_t windowSteps_ = 0;     // whose update went in
  int64_t windowAllSteps_ = 0;  // skipped ones too
  int64_t windowSamples_ = 0;
  Clock::time_point windowStart_ = Clock::now();
  double waitedBefore_ = 0;  // the reducer's exposed wait at the window's start
  double epochLoss_ = 0;
  int64_t epochSteps_ = 0;
  double globalSamples_ = 0;
  std::unique_ptr<StragglerWatch> stragglers_;
};

// The meter of a run: its sources as the facts have them, and its straggler watch (collective).
TrainingMeter meterFor(const RunFacts& run, comm::Communicator& control, RunLog& log);

}  // namespace ringtrain::train
