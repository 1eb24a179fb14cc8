#include "health/Trace.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "comm/CallLog.h"
#include "health/FlightRecord.h"
#include "health/Timeline.h"
#include "ringtrain/comm/Agreement.h"

namespace ringtrain::health {
namespace {

struct Window {
  std::mutex mutex;
  TraceWindow steps;
  bool opened = false;
  bool closed = false;
  RankTimeline kept;  // what came so far, to kept.toNs
};

std::atomic<bool> armed{false};

Window& window() {
  static Window kept;
  return kept;
}

// What began since the last time, up to now.
void takeIn(Window& traced) {
  const int64_t now = comm::wallClockNs();
  RankTimeline since = recordedBetween(traced.kept.toNs, now);
  RankTimeline& kept = traced.kept;
  kept.rank = since.rank;
  kept.host = since.host;
  kept.pid = since.pid;
  kept.toNs = now;
  kept.phases.insert(kept.phases.end(), since.phases.begin(), since.phases.end());
  kept.calls.insert(kept.calls.end(), since.calls.begin(), since.calls.end());
}

}  // namespace

void traceSteps(TraceWindow steps) {
  Window& traced = window();
  std::lock_guard<std::mutex> lock(traced.mutex);
  traced.steps = steps;
  armed.store(true, std::memory_order_release);
}

void traceStepBegins(int64_t step) {
  if (!armed.load(std::memory_order_acquire)) return;
  Window& traced = window();
  std::lock_guard<std::mutex> lock(traced.mutex);
  if (traced.closed) return;
  if (traced.opened) {
    takeIn(traced);
    traced.closed = step > traced.steps.lastStep;
  } else if (step >= traced.steps.firstStep && step <= traced.steps.lastStep) {
    traced.opened = true;
    traced.kept.fromNs = traced.kept.toNs = comm::wallClockNs();
  }
}

std::optional<CollectedTrace> collectTrace(comm::Communicator& control) {
  if (!armed.load(std::memory_order_acquire)) return std::nullopt;
  std::string mine;
  {
    Window& traced = window();
    std::lock_guard<std::mutex> lock(traced.mutex);
    if (traced.opened && !traced.closed) takeIn(traced);
    traced.closed = true;
    if (traced.opened) mine = rankTimelineJson(traced.kept).dump();
  }
  if (control.rank() != 0) {
    comm::sendString(control, mine, 0);
    return std::nullopt;
  }
  std::vector<RankTimeline> ranks;
  for (int rank = 0; rank < control.size(); ++rank) {
    const std::string part = rank == 0 ? mine : comm::receiveString(control, rank);
    if (!part.empty()) ranks.push_back(rankTimelineFrom(nlohmann::json::parse(part)));
  }
  CollectedTrace collected;
  for (const RankTimeline& rank : ranks) {
    for (const PhaseRecord& phase : rank.phases) {
      if (phase.mark.step < 1) continue;
      collected.firstStep = collected.firstStep == 0
                                ? phase.mark.step
                                : std::min(collected.firstStep, phase.mark.step);
      collected.lastStep = std::max(collected.lastStep, phase.mark.step);
    }
  }
  if (collected.firstStep == 0) return std::nullopt;
  collected.trace = chromeTrace(
      ranks,
      {{"ringtrain",
        {{"steps", {collected.firstStep, collected.lastStep}}, {"world_size", control.size()}}}});
  return collected;
}

}  // namespace ringtrain::health
