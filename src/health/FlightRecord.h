// This rank's flight record: its recent communication calls (comm/CallLog.h) and phases
// (Progress.h), always kept, and written as one small JSON file per rank,
// <run directory>/flight-recorder/rank-<r>.json, when the job ends badly: a communication timeout,
// lost ranks, an error, a stop signal. `ringtrain doctor` reads the files of all ranks back and
// names the culprit (Verdict.h).
//
// The file: {"format": "ringtrain-flight-record", "rank", "world_size", "host", "pid", "reason",
// "written_ns", "step", "phase", "waiting": the call it waits in or null, "calls":
// [{"communicator", "sequence", "operation", "bytes", "label", "start_ns", "end_ns"}], "phases":
// [{"step", "phase", "start_ns"}], "heard": on a hub, [{"rank", "host", "pid", "step", "phase",
// "waiting", "silent_seconds"}]}, times in nanoseconds since the epoch, end_ns null for a call
// still running.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "comm/CallLog.h"
#include "health/Timeline.h"
#include "health/Verdict.h"
#include "ringtrain/comm/Communicator.h"

namespace ringtrain::health {

// Once per process, at start: whose record, and its calls.
void keepFlightRecord(const comm::Topology& topology, const comm::CallLog& calls);
// Where records go: `directory`/flight-recorder/ (a run's output directory). Until it is set,
// nowhere. `clearOld` (one rank) removes the records an earlier run left there.
void setFlightRecordDirectory(const std::string& directory, bool clearOld);
// `directory`/flight-recorder, or empty before a directory is set.
std::string flightRecordFolder();

// This rank now: its step, phase and the call it waits in.
RankState currentState();
// On a hub of the heartbeats: what the other ranks last said and how long ago, which its record
// keeps too ("heard"), so that `ringtrain doctor` knows which rank fell silent. Null to stop.
void setHeardFrom(std::function<std::vector<RankState>()> heard);

// Where a reader of this rank's record is: the numbers of the next call and phase mark it has not
// seen, and how many went by unseen, the rings having moved on.
struct RecordCursor {
  uint64_t nextCall = 0;
  uint64_t nextPhase = 0;
  uint64_t lostCalls = 0;
  uint64_t lostPhases = 0;
};
// The calls and phases of this rank's record since `cursor`, which moves past them, with toNs
// now (fromNs is left 0; a call still running has endNs 0).
RankTimeline recordedSince(RecordCursor& cursor);

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
// UserError naming the directory when there are none, or the file when one is not a record, names
// a rank outside its world, another world size than the others, or a rank another file names.
std::vector<FlightRecord> readFlightRecords(const std::string& directory);
// The verdict over the records' world: ranks without a record count as unknown.
std::string verdictOfRecords(const std::vector<FlightRecord>& records);

}  // namespace ringtrain::health
