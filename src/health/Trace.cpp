#include "health/Trace.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <sstream>
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
  int64_t openedAt = 0;  // the steps whose beginnings opened and closed it
  int64_t closedAt = 0;
  RecordCursor cursor;
  RankTimeline kept;  // what came so far, to kept.toNs
};

// traceSteps was called: collectTrace takes part.
std::atomic<bool> armed{false};
// The window is still to come or open: beginStep has work to do.
std::atomic<bool> watching{false};

Window& window() {
  static Window kept;
  return kept;
}

// What the record took in since the last time, up to now.
void takeIn(Window& traced) {
  RankTimeline since = recordedSince(traced.cursor);
  RankTimeline& kept = traced.kept;
  kept.rank = since.rank;
  kept.host = since.host;
  kept.pid = since.pid;
  kept.toNs = since.toNs;
  kept.phases.insert(kept.phases.end(), since.phases.begin(), since.phases.end());
  kept.calls.insert(kept.calls.end(), since.calls.begin(), since.calls.end());
}

}  // namespace

void traceSteps(TraceWindow steps) {
  Window& traced = window();
  std::lock_guard<std::mutex> lock(traced.mutex);
  traced.steps = steps;
  traced.opened = traced.closed = false;
  traced.cursor = {};
  traced.kept = {};
  armed.store(true, std::memory_order_release);
  watching.store(true, std::memory_order_release);
}

void traceStepBegins(int64_t step) {
  if (!watching.load(std::memory_order_acquire)) return;
  Window& traced = window();
  std::lock_guard<std::mutex> lock(traced.mutex);
  if (traced.closed) return;
  if (traced.opened) {
    takeIn(traced);
    traced.closed = step > traced.steps.lastStep;
    traced.closedAt = step;
  } else if (step >= traced.steps.firstStep && step <= traced.steps.lastStep) {
    traced.opened = true;
    traced.openedAt = step;
    // From here on: what came before is not the window's.
    recordedSince(traced.cursor);
    traced.cursor.lostCalls = traced.cursor.lostPhases = 0;
    traced.kept.fromNs = traced.kept.toNs = comm::wallClockNs();
  }
  if (traced.closed) watching.store(false, std::memory_order_release);
}

void traceStepAbandoned() {
  if (!armed.load(std::memory_order_acquire)) return;
  Window& traced = window();
  std::lock_guard<std::mutex> lock(traced.mutex);
  const int64_t abandoned = currentProgress().step + 1;
  if (traced.opened && !traced.closed && traced.openedAt == abandoned) {
    // The step that opened the window did not happen: it opens at the next one.
    traced.opened = false;
    traced.cursor = {};
    traced.kept = {};
  } else if (traced.opened && traced.closed && traced.closedAt == abandoned) {
    // The step that closed it did not happen: what follows still belongs to the last one.
    traced.closed = false;
    watching.store(true, std::memory_order_release);
  }
}

std::optional<CollectedTrace> collectTrace(comm::Communicator& control) {
  if (!armed.load(std::memory_order_acquire)) return std::nullopt;
  std::string mine;
  uint64_t lost[2] = {0, 0};
  {
    Window& traced = window();
    std::lock_guard<std::mutex> lock(traced.mutex);
    armed.store(false, std::memory_order_release);
    watching.store(false, std::memory_order_release);
    if (traced.opened && !traced.closed) takeIn(traced);
    traced.closed = true;
    lost[0] = traced.cursor.lostCalls;
    lost[1] = traced.cursor.lostPhases;
    try {
      if (traced.opened) mine = rankTimelineJson(traced.kept).dump();
    } catch (const std::exception&) {
      mine.clear();  // this rank's part is missing from the trace; the run goes on
    }
    traced.kept = {};
  }
  if (control.rank() != 0) {
    comm::sendString(
        control,
        mine.empty() ? "" : std::to_string(lost[0]) + " " + std::to_string(lost[1]) + "\n" + mine,
        0);
    return std::nullopt;
  }
  // Every part first, so that no rank is left sending whatever comes of reading them.
  std::vector<std::string> parts{mine.empty() ? "" : "0 0\n" + mine};
  for (int rank = 1; rank < control.size(); ++rank) {
    parts.push_back(comm::receiveString(control, rank));
  }
  CollectedTrace collected;
  collected.lostCalls = static_cast<int64_t>(lost[0]);
  collected.lostPhases = static_cast<int64_t>(lost[1]);
  std::vector<RankTimeline> ranks;
  for (size_t index = 0; index < parts.size(); ++index) {
    const std::string& part = parts[index];
    const size_t newline = part.find('\n');
    if (newline == std::string::npos) continue;  // no window, or it could not be written
    try {
      ranks.push_back(rankTimelineFrom(nlohmann::json::parse(part.substr(newline + 1))));
    } catch (const std::exception&) {
      continue;  // counted as missing
    }
    if (index == 0) continue;
    int64_t lostCalls = 0;
    int64_t lostPhases = 0;
    std::istringstream(part.substr(0, newline)) >> lostCalls >> lostPhases;
    collected.lostCalls += lostCalls;
    collected.lostPhases += lostPhases;
  }
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
  collected.ranksMissing = control.size() - static_cast<int>(ranks.size());
  try {
    collected.trace = chromeTrace(ranks, {{"ringtrain",
                                           {{"steps", {collected.firstStep, collected.lastStep}},
                                            {"world_size", control.size()},
                                            {"ranks_missing", collected.ranksMissing},
                                            {"calls_lost", collected.lostCalls},
                                            {"phases_lost", collected.lostPhases}}}});
  } catch (const std::exception& error) {
    collected.problem = error.what();
  }
  return collected;
}

}  // namespace ringtrain::health
