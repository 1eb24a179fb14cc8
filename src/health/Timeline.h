// What ranks did over a stretch of time, and the same as a trace that Perfetto
// (https://ui.perfetto.dev) and chrome://tracing open: the Chrome trace event format, one process
// row per rank, its steps and phases as nested slices on one track and its communication calls as
// slices on others (as many as calls overlap), with the bytes, the bucket, the communicator and
// the collective's number as arguments. Pure: `--trace` (Trace.h) and the flight records
// (FlightRecord.h) share it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "health/Progress.h"
#include "health/Verdict.h"

namespace ringtrain::health {

struct TimelineCall {
  WaitingCall call;
  int64_t startNs = 0;  // since the epoch
  int64_t endNs = 0;    // 0: still running when recorded
};

struct RankTimeline {
  int rank = 0;
  std::string host;
  int pid = 0;
  int64_t fromNs = 0;  // what was recorded from ...
  int64_t toNs = 0;    // ... to: the end of the last phase and of unfinished calls
  std::vector<PhaseRecord> phases;
  std::vector<TimelineCall> calls;
};

// A call as the flight record and the timeline write it: {"communicator", "sequence",
// "operation", "label" ("bucket 2", or null), "bytes"}; and back.
nlohmann::json callJson(const WaitingCall& call);
WaitingCall callFrom(const nlohmann::json& value);
// With "start_ns" and "end_ns" (null while running) added.
nlohmann::json timedCallJson(const TimelineCall& call);
TimelineCall timedCallFrom(const nlohmann::json& value);
// {"step", "phase", "start_ns"}; and back (std::invalid_argument for an unknown phase).
nlohmann::json phaseJson(const PhaseRecord& phase);
PhaseRecord phaseFrom(const nlohmann::json& value);

// {"rank", "host", "pid", "from_ns", "to_ns", "phases", "calls"}: one rank's part of a trace, as
// ranks send it to rank 0; and back.
nlohmann::json rankTimelineJson(const RankTimeline& timeline);
RankTimeline rankTimelineFrom(const nlohmann::json& value);

// The trace of `ranks` (each rank once): {"traceEvents": [...], "displayTimeUnit": "ms",
// "otherData": {...}}, times in microseconds from the earliest rank's `fromNs`. Each rank is
// process `rank` + 1 (viewers treat process 0 as special), named "rank R (HOST, pid P)"; thread 1
// holds its steps ("step N", from one step's first phase to the next's) with their phases inside;
// threads 2, 3, ... its calls, each on the first one free at its start, named "OPERATION" or
// "OPERATION LABEL" ("allreduce bucket 2") with arguments bytes, communicator, sequence
// (collectives), label, step and, for a call still running at `toNs`, unfinished. `otherData` is
// put in as it is.
nlohmann::json chromeTrace(const std::vector<RankTimeline>& ranks,
                           const nlohmann::json& otherData = nlohmann::json::object());

}  // namespace ringtrain::health
