// Which rank holds the others back. A rank's own time in a log window is the window's wall time
// less the time it waited for communication (the reducer's exposed wait): every rank waits for
// the slowest at each gradient reduction, so a rank slowed down (a busy host, a slower device,
// slower data) has the largest own time and the others' waits grow by as much.
//
// At each metrics line the ranks gather their own time per step: the line names the slowest rank
// and how far it is above the median rank (slowest_rank, slowest_rank_lag_ms), summary.json keeps
// each rank's statistics, and a rank that stays slowest by more than kStragglerShare of the
// median for kStragglerWindows lines in a row is named in a warning, once.
#pragma once

#include <nlohmann/json.hpp>

#include <c10/core/Device.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "ringtrain/comm/Communicator.h"
#include "ringtrain/ddp/ReducerOptions.h"
#include "ringtrain/train/TrainConfig.h"
#include "train/RunLog.h"

namespace ringtrain::train {

inline constexpr double kStragglerShare = 0.25;
inline constexpr int kStragglerWindows = 3;

struct Slowest {
  int rank = 0;              // the lowest of equals
  double seconds = 0;        // its own time
  double medianSeconds = 0;  // the median rank's (the mean of the middle two for an even count)
};
Slowest slowestOf(const std::vector<double>& secondsByRank);

// Windows in a row in which one rank was slowest by more than kStragglerShare of the median.
class StragglerStreak {
 public:
  // After each window: true once, at the window that makes kStragglerWindows in a row.
  bool record(const Slowest& slowest);

 private:
  int rank_ = -1;
  int windows_ = 0;
  bool warned_ = false;
};

class StragglerWatch;
// The watch for a run that can tell its stragglers apart, or null: data-parallel runs on CPU. In
// a pipeline the stages also wait for each other outside the reduction, and on GPUs the host's
// wait in the reduction includes the rank's own device work, so neither is measured yet.
std::unique_ptr<StragglerWatch> watchStragglers(const TrainConfig& config, c10::Device device,
                                                comm::Communicator& control,
                                                const ddp::ReducerStats& waits, RunLog& log);

class StragglerWatch {
 public:
  // `waits`: the reducer's figures, whose exposed wait is this rank's communication wait.
  StragglerWatch(comm::Communicator& control, const ddp::ReducerStats& waits, RunLog& log)
      : control_(control), waits_(waits), log_(log), waitedBefore_(waits.exposedSeconds) {}

  // Collective, at every metrics line: `entry` with the slowest rank and its lag added (with more
  // than one rank), given this rank's window (its wall time and steps); the warning for a rank
  // that stays behind.
  nlohmann::ordered_json annotate(nlohmann::ordered_json entry, double windowSeconds,
                                  int64_t steps);
  // For summary.json: each rank's own time per step in ms over the windows (mean, min, max, each a
  // list by rank); null with one rank or before a window.
  nlohmann::ordered_json report() const;

 private:
  struct Times {
    double sum = 0;
    double min = 0;
    double max = 0;
  };

  comm::Communicator& control_;
  const ddp::ReducerStats& waits_;
  RunLog& log_;
  double waitedBefore_ = 0;  // at the start of the window
  int64_t windows_ = 0;
  std::vector<Times> byRank_;
  StragglerStreak streak_;
};

}  // namespace ringtrain::train
