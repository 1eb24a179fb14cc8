// Rank 0's view of a run: key=value log lines on stdout, an optional progress bar on a terminal,
// and metrics.jsonl in the output directory. On other ranks every method does nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

namespace ringtrain::io {
class TensorBoardEvents;
}

namespace ringtrain::train {

class RunLog {
 public:
  // metrics.jsonl is written from the first record() on, so that a run refused before it trains
  // leaves an earlier one's as it was. `continuesAfterStep`: a resumed run's checkpoint step; the
  // file then keeps what the interrupted run recorded up to that step and goes on after it.
  // Otherwise it starts empty.
  // With `tensorboardDir`, each record's numbers go to TensorBoard event files there too
  // (io/TensorBoardEvents.h), tagged with their keys, nested keys joined by '/'; not an event's
  // (a resume's).
  RunLog(bool active, const std::string& metricsPath, bool progressBar,
         std::optional<int64_t> continuesAfterStep = std::nullopt,
         const std::string& tensorboardDir = "");
  ~RunLog();

  // Rank 0 (re)writes metrics.jsonl now rather than at the first record(): where every rank
  // learns of a failure together.
  void openMetrics();
  void info(const std::string& line);
  // "ringtrain: warning: <line>" on stderr.
  void warn(const std::string& line);
  // Writes a record to metrics.jsonl and a "key=value ..." line (of `keys`) to stdout.
  void record(const nlohmann::ordered_json& entry, bool printLine = true);
  bool showsProgress() const { return progressBar_; }
  void progress(int64_t epoch, int64_t epochs, int64_t stepInEpoch, int64_t stepsInEpoch,
                double loss);

 private:
  void clearProgress();

  bool active_;
  bool progressBar_;
  bool progressShown_ = false;
  std::string metricsPath_;
  std::optional<int64_t> continuesAfterStep_;
  std::ofstream metrics_;
  std::string tensorboardDir_;
  std::unique_ptr<io::TensorBoardEvents> tensorboard_;
  std::chrono::steady_clock::time_point lastDrawn_{};
};

}  // namespace ringtrain::train
