#include "health/FlightRecord.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>

#include "ringtrain/util/Error.h"
#include "util/Files.h"

namespace ringtrain::health {
namespace {

using nlohmann::json;

constexpr const char* kFormat = "ringtrain-flight-record";
constexpr const char* kFolder = "flight-recorder";

struct Keeper {
  std::mutex mutex;
  comm::Topology topology;
  const comm::CallLog* calls = nullptr;
  std::string directory;
  bool written = false;
};

Keeper& keeper() {
  static Keeper* const kept = new Keeper;  // never destroyed: dumps may come while exiting
  return *kept;
}

std::optional<WaitingCall> waitingCallOf(const std::optional<comm::CallRecord>& record) {
  if (!record) return std::nullopt;
  return WaitingCall{record->communicator, record->sequence,
                     record->operation,    record->labelKind ? record->labelKind : "",
                     record->labelIndex,   record->bytes};
}

json callJson(const WaitingCall& call) {
  return {{"communicator", call.communicator},
          {"sequence", call.sequence},
          {"operation", call.operation},
          {"label", call.labelKind.empty()
                        ? json(nullptr)
                        : json(call.labelKind + " " + std::to_string(call.labelIndex))},
          {"bytes", call.bytes}};
}

WaitingCall callFrom(const json& value) {
  WaitingCall call{value.at("communicator").get<int>(),
                   value.at("sequence").get<int64_t>(),
                   value.at("operation").get<std::string>(),
                   "",
                   -1,
                   value.at("bytes").get<int64_t>()};
  if (value.contains("label") && value.at("label").is_string()) {
    const std::string label = value.at("label").get<std::string>();
    const auto space = label.rfind(' ');
    call.labelKind = label.substr(0, space);
    call.labelIndex = space == std::string::npos ? -1 : std::stoll(label.substr(space + 1));
  }
  return call;
}

}  // namespace

void keepFlightRecord(const comm::Topology& topology, const comm::CallLog& calls) {
  Keeper& kept = keeper();
  std::lock_guard<std::mutex> lock(kept.mutex);
  kept.topology = topology;
  kept.calls = &calls;
  armTestHang(topology.rank);
}

void setFlightRecordDirectory(const std::string& directory) {
  Keeper& kept = keeper();
  std::lock_guard<std::mutex> lock(kept.mutex);
  kept.directory = directory;
}

RankState currentState() {
  Keeper& kept = keeper();
  RankState state;
  state.known = true;
  state.rank = kept.topology.rank;
  state.host = kept.topology.host;
  state.pid = static_cast<int>(::getpid());
  state.progress = currentProgress();
  if (kept.calls) state.waiting = waitingCallOf(kept.calls->blockedIn());
  return state;
}

std::string dumpFlightRecord(const std::string& reason) {
  Keeper& kept = keeper();
  std::lock_guard<std::mutex> lock(kept.mutex);
  if (kept.written || kept.directory.empty()) return "";
  kept.written = true;
  const RankState state = currentState();
  json calls = json::array();
  if (kept.calls) {
    for (const comm::CallRecord& call : kept.calls->recent()) {
      json entry = callJson(*waitingCallOf(call));
      entry["start_ns"] = call.startNs;
      entry["end_ns"] = call.endNs ? json(call.endNs) : json(nullptr);
      calls.push_back(std::move(entry));
    }
  }
  json phases = json::array();
  for (const PhaseRecord& phase : recentPhases()) {
    phases.push_back({{"step", phase.mark.step},
                      {"phase", phaseName(phase.mark.phase)},
                      {"start_ns", phase.startNs}});
  }
  const json record{{"format", kFormat},
                    {"rank", state.rank},
                    {"world_size", kept.topology.size},
                    {"host", state.host},
                    {"pid", state.pid},
                    {"reason", reason},
                    {"written_ns", comm::wallClockNs()},
                    {"step", state.progress.step},
                    {"phase", phaseName(state.progress.phase)},
                    {"waiting", state.waiting ? callJson(*state.waiting) : json(nullptr)},
                    {"calls", std::move(calls)},
                    {"phases", std::move(phases)}};
  try {
    const std::string folder = kept.directory + "/" + kFolder;
    makeDirectories(folder);
    const std::string path = folder + "/rank-" + std::to_string(state.rank) + ".json";
    writeFileAtomically(path, record.dump() + "\n");
    return path;
  } catch (const std::exception&) {
    return "";  // a failing job's record is a bonus, never a second failure
  }
}

std::vector<FlightRecord> readFlightRecords(const std::string& directory) {
  const std::string folder =
      isDirectory(directory + "/" + kFolder) ? directory + "/" + kFolder : directory;
  RINGTRAIN_USER_CHECK(isDirectory(folder), directory << " is not a directory");
  std::vector<FlightRecord> records;
  for (const std::string& name : listDirectory(folder)) {
    if (name.rfind("rank-", 0) != 0 || !hasSuffix(name, ".json")) continue;
    const std::string path = folder + "/" + name;
    FlightRecord record;
    try {
      record.json = json::parse(readFile(path));
      RINGTRAIN_USER_CHECK(record.json.value("format", "") == kFormat,
                           path << " is not a ringtrain flight record");
      RankState& state = record.state;
      state.known = true;
      state.rank = record.json.at("rank").get<int>();
      state.host = record.json.at("host").get<std::string>();
      state.pid = record.json.at("pid").get<int>();
      state.progress.step = record.json.at("step").get<int64_t>();
      state.progress.phase =
          phaseNamed(record.json.at("phase").get<std::string>()).value_or(Phase::kStarting);
      if (record.json.at("waiting").is_object())
        state.waiting = callFrom(record.json.at("waiting"));
      record.worldSize = record.json.at("world_size").get<int>();
      record.reason = record.json.at("reason").get<std::string>();
    } catch (const json::exception& error) {
      throw UserError(path + " is not a readable flight record: " + error.what());
    }
    records.push_back(std::move(record));
  }
  RINGTRAIN_USER_CHECK(!records.empty(), "no flight records (rank-<r>.json) in " << folder);
  std::sort(records.begin(), records.end(), [](const FlightRecord& a, const FlightRecord& b) {
    return a.state.rank < b.state.rank;
  });
  return records;
}

std::string verdictOfRecords(const std::vector<FlightRecord>& records) {
  int world = 0;
  for (const FlightRecord& record : records) {
    world = std::max({world, record.worldSize, record.state.rank + 1});
  }
  std::vector<RankState> ranks(static_cast<size_t>(world));
  for (int rank = 0; rank < world; ++rank) ranks[static_cast<size_t>(rank)].rank = rank;
  for (const FlightRecord& record : records) {
    ranks[static_cast<size_t>(record.state.rank)] = record.state;
  }
  return verdictOf(ranks);
}

}  // namespace ringtrain::health
