// A one-line progress report on stderr for long single-process commands (prep, check-data):
// redrawn in place on a terminal, a line every 10% otherwise, so logs stay short.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "ringtrain/train/TrainConfig.h"

namespace ringtrain::cli {

class ProgressMeter {
 public:
  ProgressMeter(std::string what, train::ProgressMode mode);
  ~ProgressMeter();
  void update(int64_t bytesDone, int64_t bytesTotal);
  double seconds() const;

 private:
  std::string what_;
  bool enabled_;
  bool terminal_;
  int lastTenth_ = -1;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point lastDrawn_{};
};

// "1.5 GiB", "12.0 MiB", "512 B"
std::string formatBytes(double bytes);

}  // namespace ringtrain::cli
