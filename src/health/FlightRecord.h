// This rank's flight record: its recent communication calls (comm/CallLog.h) and phases
// (Progress.h), always kept, and written as one small JSON file per rank,
// <run directory>/flight-recorder/rank-<r>.json, when the job ends badly: a communication timeout,
// lost ranks, an error, a stop signal. `ringtrain doctor` reads the files of all ranks back and
// names the culprit (Verdict.h).
//
// The file: {"format": "ringtrain-flight-record", "rank", "world_size", "host", "pid", "reason",
// "written_ns", "step", "phase", "waiting": the call it waits in or null, "calls":
// [{"communicator", "sequence", "operation", "bytes", "label", "start_ns", "end_ns"}], "phases":
// [{"step", "phase", "start_ns"}]}, times in nanoseconds since the epoch, end_ns null for a call
// still running.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "comm/CallLog.h"
#include "health/Verdict.h"
#include "ringtrain/comm/Communicator.h"

namespace ringtrain::health {

// Once per process, at start: whose record, and its calls.
void keepFlightRecord(const comm::Topology& topology, const comm::CallLog& calls);
// Where records go: `directory`/flight-recorder/ (a run's output directory). Until it is set,
// nowhere.
void setFlightRecordDirectory(const std::string& directory);

// This rank now: its step, phase and the call it waits in.
RankState currentState();

// Writes this rank's record, once per process (later calls do nothing); any thread. Returns the
// path written, or empty (no directory, or it could not be written).
std::string dumpFlightRecord(const std::string& reason);

struct FlightRecord {
  RankState state;
  int worldSize = 0;
  std::string reason;
  nlohmann::json json;
};
// The records in `directory` (a run's output directory, or its flight-recorder/), by rank.
// UserError naming the directory when there are none, or the file when one is not a record.
std::vector<FlightRecord> readFlightRecords(const std::string& directory);
// The verdict over the records' world: ranks without a record count as unknown.
std::string verdictOfRecords(const std::vector<FlightRecord>& records);

}  // namespace ringtrain::health
