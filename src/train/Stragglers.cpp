#include "train/Stragglers.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "ringtrain/comm/Agreement.h"

namespace ringtrain::train {

std::unique_ptr<StragglerWatch> watchStragglers(const TrainConfig& config, c10::Device device,
                                                comm::Communicator& control,
                                                const ddp::ReducerStats& waits, RunLog& log) {
  if (config.pipeline.stages > 1 || !device.is_cpu()) return nullptr;
  return std::make_unique<StragglerWatch>(control, waits, log);
}

Slowest slowestOf(const std::vector<double>& secondsByRank) {
  Slowest slowest;
  if (secondsByRank.empty()) return slowest;
  for (size_t rank = 0; rank < secondsByRank.size(); ++rank) {
    if (secondsByRank[rank] > secondsByRank[static_cast<size_t>(slowest.rank)]) {
      slowest.rank = static_cast<int>(rank);
    }
  }
  slowest.seconds = secondsByRank[static_cast<size_t>(slowest.rank)];
  std::vector<double> sorted = secondsByRank;
  std::sort(sorted.begin(), sorted.end());
  const size_t middle = sorted.size() / 2;
  slowest.medianSeconds =
      sorted.size() % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  return slowest;
}

nlohmann::ordered_json StragglerWatch::annotate(nlohmann::ordered_json entry, double windowSeconds,
                                                int64_t steps) {
  const double waited = waits_.exposedSeconds - waitedBefore_;
  waitedBefore_ = waits_.exposedSeconds;
  if (control_.size() == 1 || steps <= 0) return entry;
  const double own = std::max(0.0, windowSeconds - waited) / static_cast<double>(steps);
  const at::Tensor all =
      control_.allGather(at::full({1}, own, at::kDouble)).reshape(-1).contiguous();
  const std::vector<double> seconds(all.const_data_ptr<double>(),
                                    all.const_data_ptr<double>() + all.numel());

  byRank_.resize(seconds.size());
  for (size_t rank = 0; rank < seconds.size(); ++rank) {
    Times& times = byRank_[rank];
    times.sum += seconds[rank];
    times.min = windows_ == 0 ? seconds[rank] : std::min(times.min, seconds[rank]);
    times.max = windows_ == 0 ? seconds[rank] : std::max(times.max, seconds[rank]);
  }
  ++windows_;

  const Slowest slowest = slowestOf(seconds);
  entry["slowest_rank"] = slowest.rank;
  entry["slowest_rank_lag_ms"] = std::round((slowest.seconds - slowest.medianSeconds) * 1e4) / 10;

  // Every rank decides alike, from the same figures; the slow one then says where it runs.
  if (streak_.record(slowest)) {
    const std::string host =
        comm::broadcastString(control_, control_.topology().host, slowest.rank);
    std::ostringstream line;
    line << std::fixed << std::setprecision(1) << "rank " << slowest.rank << " (" << host
         << ") has been the slowest rank for " << kStragglerWindows
         << " log lines in a row: its own time per step is "
         << 100 * (slowest.seconds / slowest.medianSeconds - 1) << "% above the median rank's ("
         << slowest.seconds * 1e3 << " ms against " << slowest.medianSeconds * 1e3
         << " ms), and the other ranks wait for it; a busy or slower host or data source?";
    log_.warn(line.str());
  }
  return entry;
}

bool StragglerStreak::record(const Slowest& slowest) {
  const bool behind =
      slowest.medianSeconds > 0 && slowest.seconds > slowest.medianSeconds * (1 + kStragglerShare);
  windows_ = !behind ? 0 : slowest.rank == rank_ ? windows_ + 1 : 1;
  rank_ = behind ? slowest.rank : -1;
  if (windows_ < kStragglerWindows || warned_) return false;
  warned_ = true;
  return true;
}

nlohmann::ordered_json StragglerWatch::report() const {
  if (windows_ == 0) return nullptr;
  nlohmann::ordered_json mean = nlohmann::ordered_json::array();
  nlohmann::ordered_json min = nlohmann::ordered_json::array();
  nlohmann::ordered_json max = nlohmann::ordered_json::array();
  const auto ms = [](double seconds) { return std::round(seconds * 1e6) / 1e3; };
  for (const Times& times : byRank_) {
    mean.push_back(ms(times.sum / static_cast<double>(windows_)));
    min.push_back(ms(times.min));
    max.push_back(ms(times.max));
  }
  return {{"mean", mean}, {"min", min}, {"max", max}};
}

}  // namespace ringtrain::train
