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
  std::function<std::vector<RankState>()> heard;
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

}  // namespace

void keepFlightRecord(const comm::Topology& topology, const comm::CallLog& calls) {
  Keeper& kept = keeper();
  std::lock_guard<std::mutex> lock(kept.mutex);
  kept.topology = topology;
  kept.calls = &calls;
  armTestHang(topology.rank);
}

void setFlightRecordDirectory(const std::string& directory, bool clearOld) {
  Keeper& kept = keeper();
  std::lock_guard<std::mutex> lock(kept.mutex);
  kept.directory = directory;
  const std::string folder = directory + "/" + kFolder;
  if (clearOld && !directory.empty() && isDirectory(folder)) removeTree(folder);
}

std::string flightRecordFolder() {
  Keeper& kept = keeper();
  std::lock_guard<std::mutex> lock(kept.mutex);
  return kept.directory.empty() ? "" : kept.directory + "/" + kFolder;
}

void setHeardFrom(std::function<std::vector<RankState>()> heard) {
  Keeper& kept = keeper();
  std::lock_guard<std::mutex> lock(kept.mutex);
  kept.heard = std::move(heard);
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

RankTimeline recordedSince(RecordCursor& cursor) {
  Keeper& kept = keeper();
  std::lock_guard<std::mutex> lock(kept.mutex);
  RankTimeline timeline{kept.topology.rank,
                        kept.topology.host,
                        static_cast<int>(::getpid()),
                        0,
                        comm::wallClockNs(),
                        {},
                        {}};
  timeline.phases = phasesSince(cursor.nextPhase, cursor.lostPhases);
  if (kept.calls) {
    for (const comm::CallRecord& call : kept.calls->since(cursor.nextCall, cursor.lostCalls)) {
      timeline.calls.push_back({*waitingCallOf(call), call.startNs, call.endNs});
    }
  }
  return timeline;
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
      calls.push_back(timedCallJson({*waitingCallOf(call), call.startNs, call.endNs}));
    }
  }
  json phases = json::array();
  for (const PhaseRecord& phase : recentPhases()) phases.push_back(phaseJson(phase));
  json heard = json::array();
  if (kept.heard) {
    for (const RankState& peer : kept.heard()) {
      heard.push_back({{"rank", peer.rank},
                       {"host", peer.host},
                       {"pid", peer.pid},
                       {"step", peer.progress.step},
                       {"phase", phaseName(peer.progress.phase)},
                       {"waiting", peer.waiting ? callJson(*peer.waiting) : json(nullptr)},
                       {"silent_seconds", peer.silentSeconds}});
    }
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
                    {"phases", std::move(phases)},
                    {"heard", std::move(heard)}};
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
  // Far beyond any job, small enough to count the ranks in memory.
  constexpr int kLargestWorld = 1 << 20;
  const std::string folder =
      isDirectory(directory + "/" + kFolder) ? directory + "/" + kFolder : directory;
  RINGTRAIN_USER_CHECK(isDirectory(folder), directory << " is not a directory");
  std::vector<FlightRecord> records;
  std::vector<std::string> names;
  for (const std::string& name : listDirectory(folder)) {
    if (name.rfind("rank-", 0) == 0 && hasSuffix(name, ".json")) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    const std::string path = folder + "/" + name;
    FlightRecord record;
    try {
      record.json = json::parse(readFile(path));
      RINGTRAIN_USER_CHECK(record.json.is_object() && record.json.value("format", "") == kFormat,
                           path << " is not a ringtrain flight record");
      RankState& state = record.state;
      state.known = true;
      state.rank = record.json.at("rank").get<int>();
      record.worldSize = record.json.at("world_size").get<int>();
      RINGTRAIN_USER_CHECK(
          record.worldSize > 0 && record.worldSize <= kLargestWorld && state.rank >= 0 &&
              state.rank < record.worldSize,
          path << " names rank " << state.rank << " of a world of " << record.worldSize);
      state.host = record.json.at("host").get<std::string>();
      state.pid = record.json.at("pid").get<int>();
      state.progress.step = record.json.at("step").get<int64_t>();
      state.progress.phase =
          phaseNamed(record.json.at("phase").get<std::string>()).value_or(Phase::kStarting);
      if (record.json.at("waiting").is_object())
        state.waiting = callFrom(record.json.at("waiting"));
      for (const json& call : record.json.at("calls")) timedCallFrom(call);
      for (const json& phase : record.json.at("phases")) phaseFrom(phase);
      record.reason = record.json.at("reason").get<std::string>();
      if (record.reason.rfind("error: ", 0) == 0) state.failure = record.reason.substr(7);
    } catch (const UserError&) {
      throw;
    } catch (const std::exception& error) {
      throw UserError(path + " is not a readable flight record: " + error.what());
    }
    for (const FlightRecord& other : records) {
      RINGTRAIN_USER_CHECK(other.worldSize == record.worldSize,
                           path << " is of a world of " << record.worldSize
                                << " ranks, the other records of " << other.worldSize
                                << " (records of two runs?)");
      RINGTRAIN_USER_CHECK(
          other.state.rank != record.state.rank,
          path << " names rank " << record.state.rank << ", which another record names too");
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
  const int world = records.empty() ? 0 : records.front().worldSize;
  std::vector<RankState> ranks(static_cast<size_t>(world));
  for (int rank = 0; rank < world; ++rank) ranks[static_cast<size_t>(rank)].rank = rank;
  for (const FlightRecord& record : records) {
    ranks[static_cast<size_t>(record.state.rank)] = record.state;
  }
  // What a hub heard last: a rank silent for long is named as such, with or without a record.
  for (const FlightRecord& record : records) {
    if (!record.json.contains("heard") || !record.json.at("heard").is_array()) continue;
    for (const json& peer : record.json.at("heard")) {
      const int rank = peer.value("rank", -1);
      if (rank < 0 || rank >= world) continue;
      RankState& state = ranks[static_cast<size_t>(rank)];
      if (!state.known) {
        state.known = true;
        state.host = peer.value("host", "");
        state.pid = peer.value("pid", 0);
        state.progress.step = peer.value("step", int64_t{0});
        state.progress.phase = phaseNamed(peer.value("phase", "")).value_or(Phase::kStarting);
        if (peer.contains("waiting") && peer.at("waiting").is_object()) {
          state.waiting = callFrom(peer.at("waiting"));
        }
      }
      state.silentSeconds = std::max(state.silentSeconds, peer.value("silent_seconds", 0.0));
    }
  }
  return verdictOf(ranks);
}

}  // namespace ringtrain::health
