#include "train/RunLog.h"

#include <chrono>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/JobOutputs.h"
#include "io/TensorBoardEvents.h"
#include "ringtrain/util/Error.h"
#include "util/Files.h"

namespace ringtrain::train {

namespace {

// The lines of an earlier metrics.jsonl that stay when a run continues after `step`.
std::string recordsThrough(const std::string& path, int64_t step) {
  std::ifstream earlier(path);
  std::string kept;
  std::string line;
  while (std::getline(earlier, line)) {
    const nlohmann::json entry = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!entry.is_object() || !entry.contains("step") || !entry.at("step").is_number()) continue;
    const int64_t at = entry.at("step").get<int64_t>();
    if (at <= step) kept += line + "\n";
  }
  return kept;
}

// The numbers of a record, by key (a nested object's as "outer/inner"), but its step.
void addScalars(const nlohmann::ordered_json& value, const std::string& key,
                std::vector<std::pair<std::string, double>>& scalars) {
  if (value.is_object()) {
    for (const auto& [name, inner] : value.items()) {
      if (key.empty() && name == "step") continue;
      addScalars(inner, key.empty() ? name : key + "/" + name, scalars);
    }
  } else if (value.is_number()) {
    scalars.emplace_back(key, value.get<double>());
  }
}

}  // namespace

RunLog::RunLog(bool active, const std::string& metricsPath, bool progressBar,
               std::optional<int64_t> continuesAfterStep, const std::string& tensorboardDir)
    : active_(active),
      progressBar_(active && progressBar),
      metricsPath_(metricsPath),
      continuesAfterStep_(continuesAfterStep),
      tensorboardDir_(tensorboardDir) {}

void RunLog::openMetrics() {
  if (!active_ || metrics_.is_open()) return;
  // Rewritten whole, so that a crash now leaves the earlier records as they were.
  writeFileAtomically(metricsPath_, continuesAfterStep_
                                        ? recordsThrough(metricsPath_, *continuesAfterStep_)
                                        : std::string());
  metrics_.open(metricsPath_, std::ios::out | std::ios::app);
  RINGTRAIN_USER_CHECK(metrics_, "cannot write " << metricsPath_);
  if (!tensorboardDir_.empty()) {
    tensorboard_ = std::make_unique<io::TensorBoardEvents>(
        tensorboardDir_, continuesAfterStep_ ? *continuesAfterStep_ + 1 : 1);
  }
}

RunLog::~RunLog() {
  clearProgress();
}

void RunLog::clearProgress() {
  if (!progressShown_) return;
  std::fputs("\r\033[2K", stdout);
  std::fflush(stdout);
  progressShown_ = false;
}

void RunLog::info(const std::string& line) {
  if (!active_) return;
  clearProgress();
  std::cout << line << std::endl;
}

void RunLog::warn(const std::string& line) {
  if (!active_) return;
  clearProgress();
  std::cout << std::flush;
  std::cerr << "ringtrain: warning: " << line << std::endl;
}

void RunLog::record(const nlohmann::ordered_json& entry, bool printLine) {
  if (!active_) return;
  openMetrics();
  metrics_ << entry.dump() << '\n';
  metrics_.flush();
  // Steps' and validations' figures; not events (a resume), whose numbers say where, not how.
  if (tensorboard_ && entry.contains("step") && entry.at("step").is_number_integer() &&
      !entry.contains("event")) {
    std::vector<std::pair<std::string, double>> scalars;
    addScalars(entry, "", scalars);
    try {
      tensorboard_->addScalars(entry.at("step").get<int64_t>(), scalars);
    } catch (const std::exception& error) {
      // The run matters more than its dashboard.
      tensorboard_.reset();
      warn(std::string(error.what()) + "; no more TensorBoard records are written");
    }
  }
  if (printLine) info(io::formatKeyValues(entry));
}

void RunLog::progress(int64_t epoch, int64_t epochs, int64_t stepInEpoch, int64_t stepsInEpoch,
                      double loss) {
  if (!progressBar_) return;
  // Redrawing more often than this only costs time, on slow terminals a lot of it.
  const auto now = std::chrono::steady_clock::now();
  if (stepInEpoch != stepsInEpoch && now - lastDrawn_ < std::chrono::milliseconds(100)) return;
  lastDrawn_ = now;
  constexpr int kWidth = 30;
  const int filled =
      stepsInEpoch > 0 ? static_cast<int>(kWidth * stepInEpoch / stepsInEpoch) : kWidth;
  std::printf("\r\033[2Kepoch %lld/%lld [%s%s] %lld/%lld loss %.4f", static_cast<long long>(epoch),
              static_cast<long long>(epochs), std::string(static_cast<size_t>(filled), '=').c_str(),
              std::string(static_cast<size_t>(kWidth - filled), ' ').c_str(),
              static_cast<long long>(stepInEpoch), static_cast<long long>(stepsInEpoch), loss);
  std::fflush(stdout);
  progressShown_ = true;
}

}  // namespace ringtrain::train
