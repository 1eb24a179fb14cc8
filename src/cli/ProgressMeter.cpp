#include "ProgressMeter.h"

#include <unistd.h>

#include <cstdio>

namespace ringtrain::cli {

std::string formatBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof(text), unit == 0 ? "%.0f %s" : "%.1f %s", bytes, units[unit]);
  return text;
}

ProgressMeter::ProgressMeter(std::string what, train::ProgressMode mode)
    : what_(std::move(what)),
      enabled_(mode != train::ProgressMode::kOff),
      terminal_(::isatty(STDERR_FILENO) != 0) {
  if (mode == train::ProgressMode::kAuto) enabled_ = terminal_;
}

ProgressMeter::~ProgressMeter() {
  if (drawn_ && terminal_) std::fputs("\n", stderr);
}

double ProgressMeter::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressMeter::update(int64_t bytesDone, int64_t bytesTotal) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const int tenth = bytesTotal > 0 ? static_cast<int>(10 * bytesDone / bytesTotal) : 10;
  if (terminal_) {
    if (bytesDone < bytesTotal && now - lastDrawn_ < std::chrono::milliseconds(200)) return;
  } else if (tenth == lastTenth_) {
    return;
  }
  lastDrawn_ = now;
  lastTenth_ = tenth;
  const double elapsed = seconds();
  std::fprintf(stderr, "%s%s: %s of %s (%.0f%%), %s/s%s", terminal_ ? "\r\033[2K" : "",
               what_.c_str(), formatBytes(static_cast<double>(bytesDone)).c_str(),
               formatBytes(static_cast<double>(bytesTotal)).c_str(),
               bytesTotal > 0
                   ? 100.0 * static_cast<double>(bytesDone) / static_cast<double>(bytesTotal)
                   : 100.0,
               formatBytes(elapsed > 0 ? static_cast<double>(bytesDone) / elapsed : 0).c_str(),
               terminal_ ? "" : "\n");
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace ringtrain::cli
