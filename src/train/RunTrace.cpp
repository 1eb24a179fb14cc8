#include "train/RunTrace.h"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "health/Trace.h"
#include "ringtrain/util/Error.h"
#include "train/RunDirectory.h"
#include "util/Files.h"

namespace ringtrain::train {
namespace {

health::TraceWindow windowOf(const TrainConfig& config, int64_t startStep) {
  if (config.traceFirstStep > 0) return {config.traceFirstStep, config.traceLastStep};
  const int64_t first = startStep + 1 + kTracedStepsSkipped;
  return {first, first + kTracedSteps - 1};
}

std::string stepsText(int64_t first, int64_t last) {
  return first == last ? "step " + std::to_string(first)
                       : "steps " + std::to_string(first) + "-" + std::to_string(last);
}

}  // namespace

void startTrace(const TrainConfig& config, const RunPlan& plan, int64_t startStep,
                const std::string& outputDir, RunLog& log) {
  if (config.tracePath.empty()) return;
  // The run's own files are not the trace's to overwrite.
  // Compared as the file system resolves them: through links (runs/latest) and from any cwd.
  const auto normal = [](const std::string& path) {
    std::error_code error;
    const std::filesystem::path resolved =
        std::filesystem::weakly_canonical(std::filesystem::absolute(path), error);
    return (error ? std::filesystem::path(path).lexically_normal() : resolved).string();
  };
  const std::string path = normal(resolvedInRun(config.tracePath, outputDir));
  const std::string checkpoints =
      normal(config.checkpointDir.empty() ? outputDir + "/checkpoints" : config.checkpointDir);
  for (const char* name : {"metrics.jsonl", "summary.json", "model.safetensors"}) {
    RINGTRAIN_USER_CHECK(path != normal(outputDir + "/" + name),
                         "--trace " << config.tracePath << " names the run's " << name);
  }
  for (const std::string& folder : {checkpoints, normal(outputDir + "/flight-recorder")}) {
    RINGTRAIN_USER_CHECK(path.rfind(folder + "/", 0) != 0 && path != folder,
                         "--trace " << config.tracePath << " lies in " << folder
                                    << ", which holds the run's own files");
  }
  health::TraceWindow window = windowOf(config, startStep);
  const int64_t lastStep = plan.totalSteps == kUnknownSteps ? window.lastStep : plan.totalSteps;
  // The default window of a short run: what it has after its first step, or that step.
  if (config.traceFirstStep == 0 && window.firstStep > lastStep) {
    window.firstStep = std::max(startStep + 1, lastStep - kTracedSteps + 1);
  }
  if (window.lastStep <= startStep || window.firstStep > lastStep) {
    log.warn("--trace: " + stepsText(window.firstStep, window.lastStep) +
             " lie outside the steps this run trains (" +
             (lastStep > startStep ? stepsText(startStep + 1, lastStep) : "none") +
             "), so no trace is written");
  }
  health::traceSteps(window);
}

void finishTrace(const TrainConfig& config, comm::Communicator& control,
                 const std::string& outputDir, RunLog& log) {
  if (config.tracePath.empty()) return;
  const std::optional<health::CollectedTrace> collected = health::collectTrace(control);
  if (!collected) return;  // not rank 0, or nothing traced (startTrace said so)
  const std::string path = resolvedInRun(config.tracePath, outputDir);
  try {
    if (!collected->problem.empty()) throw std::runtime_error(collected->problem);
    const std::string parent = path.substr(0, path.find_last_of('/'));
    if (!parent.empty() && parent != path) makeDirectories(parent);
    writeFileAtomically(path, collected->trace.dump() + "\n");
  } catch (const std::exception& error) {
    log.warn("--trace: could not write " + path + ": " + error.what());
    return;
  }
  log.info("trace of " + stepsText(collected->firstStep, collected->lastStep) + " on " +
           std::to_string(control.size()) + (control.size() == 1 ? " rank" : " ranks") + ": " +
           path + " (open it in https://ui.perfetto.dev or chrome://tracing)");
  if (collected->ranksMissing > 0) {
    log.warn("--trace: " + std::to_string(collected->ranksMissing) +
             " rank(s) could not send their part, which the trace lacks");
  }
  if (collected->lostCalls > 0 || collected->lostPhases > 0) {
    log.warn("--trace: the trace lacks " + std::to_string(collected->lostCalls) +
             " communication calls and " + std::to_string(collected->lostPhases) +
             " phases, which went by between two steps' beginnings faster than the flight "
             "recorder holds them (1024 of each)");
  }
}

}  // namespace ringtrain::train
