#include "health/Timeline.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace ringtrain::health {
namespace {

using nlohmann::json;

// Microseconds, what the format's "ts" and "dur" count: to three decimals, whole nanoseconds,
// which viewers round back to the same ones.
double micros(int64_t ns) {
  return static_cast<double>(ns) / 1e3;
}

// The format's process of a rank: viewers treat process 0 as special.
int processOf(int rank) {
  return rank + 1;
}
constexpr int kStepTrack = 1;  // then the calls' tracks

json metadata(const char* name, int pid, int tid, json args) {
  return {{"ph", "M"}, {"name", name}, {"pid", pid}, {"tid", tid}, {"args", std::move(args)}};
}

json slice(const std::string& name, const char* category, int rank, int tid, int64_t startNs,
           int64_t endNs, int64_t originNs, json args) {
  return {{"ph", "X"},
          {"name", name},
          {"cat", category},
          {"pid", processOf(rank)},
          {"tid", tid},
          {"ts", micros(startNs - originNs)},
          {"dur", micros(std::max(endNs, startNs) - startNs)},
          {"args", std::move(args)}};
}

// The step a rank was in at `ns`: that of its last phase begun by then, or none.
json stepAt(const std::vector<PhaseRecord>& phases, int64_t ns) {
  const auto after =
      std::upper_bound(phases.begin(), phases.end(), ns,
                       [](int64_t time, const PhaseRecord& phase) { return time < phase.startNs; });
  return after == phases.begin() ? json(nullptr) : json(std::prev(after)->mark.step);
}

// Each step, then its phases inside it (a parent before its children where both begin at once).
void addSteps(const RankTimeline& rank, int64_t originNs, json& events) {
  const std::vector<PhaseRecord>& phases = rank.phases;
  const auto endOf = [&](size_t index) {
    return index + 1 < phases.size() ? phases[index + 1].startNs : rank.toNs;
  };
  for (size_t begins = 0, ends = 0; begins < phases.size(); begins = ends) {
    const int64_t step = phases[begins].mark.step;
    while (ends < phases.size() && phases[ends].mark.step == step) ++ends;
    events.push_back(slice(step > 0 ? "step " + std::to_string(step) : "before the first step",
                           "step", rank.rank, kStepTrack, phases[begins].startNs, endOf(ends - 1),
                           originNs, {{"step", step}}));
    for (size_t index = begins; index < ends; ++index) {
      events.push_back(slice(phaseName(phases[index].mark.phase), "phase", rank.rank, kStepTrack,
                             phases[index].startNs, endOf(index), originNs, {{"step", step}}));
    }
  }
}

// Each call on the first track free at its start; returns how many tracks that took.
int addCalls(const RankTimeline& rank, int64_t originNs, json& events) {
  std::vector<TimelineCall> calls = rank.calls;
  std::stable_sort(calls.begin(), calls.end(), [](const TimelineCall& a, const TimelineCall& b) {
    return a.startNs < b.startNs;
  });
  std::vector<int64_t> trackFreeAt;
  for (const TimelineCall& timed : calls) {
    const bool unfinished = timed.endNs == 0;
    const int64_t endNs = unfinished ? std::max(rank.toNs, timed.startNs) : timed.endNs;
    size_t track = 0;
    while (track < trackFreeAt.size() && trackFreeAt[track] > timed.startNs) ++track;
    if (track == trackFreeAt.size()) trackFreeAt.push_back(0);
    trackFreeAt[track] = endNs;

    const WaitingCall& call = timed.call;
    const std::string label = describeLabel(call);
    json args{{"bytes", call.bytes}, {"communicator", call.communicator}};
    if (call.sequence > 0) args["sequence"] = call.sequence;
    if (call.labelIndex >= 0) {
      args[call.labelKind] = call.labelIndex;
    } else if (!label.empty()) {
      args["label"] = label;
    }
    args["step"] = stepAt(rank.phases, timed.startNs);
    if (unfinished) args["unfinished"] = true;
    events.push_back(slice(label.empty() ? call.operation : call.operation + " " + label,
                           "communication", rank.rank, kStepTrack + 1 + static_cast<int>(track),
                           timed.startNs, endNs, originNs, std::move(args)));
  }
  return static_cast<int>(trackFreeAt.size());
}

}  // namespace

json callJson(const WaitingCall& call) {
  const std::string label = describeLabel(call);
  return {{"communicator", call.communicator},
          {"sequence", call.sequence},
          {"operation", call.operation},
          {"label", label.empty() ? json(nullptr) : json(label)},
          {"bytes", call.bytes}};
}

WaitingCall callFrom(const json& value) {
  WaitingCall call{value.at("communicator").get<int64_t>(),
                   value.at("sequence").get<int64_t>(),
                   value.at("operation").get<std::string>(),
                   "",
                   -1,
                   value.at("bytes").get<int64_t>()};
  if (value.contains("label") && value.at("label").is_string()) {
    const std::string label = value.at("label").get<std::string>();
    // "bucket 2": a kind and an index; "scalars": a kind alone.
    const auto space = label.rfind(' ');
    const std::string last = space == std::string::npos ? "" : label.substr(space + 1);
    const bool indexed =
        !last.empty() && last.size() < 19 &&
        std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; });
    call.labelKind = indexed ? label.substr(0, space) : label;
    call.labelIndex = indexed ? std::stoll(last) : -1;
  }
  return call;
}

json timedCallJson(const TimelineCall& call) {
  json entry = callJson(call.call);
  entry["start_ns"] = call.startNs;
  entry["end_ns"] = call.endNs ? json(call.endNs) : json(nullptr);
  return entry;
}

TimelineCall timedCallFrom(const json& value) {
  const json& end = value.at("end_ns");
  return {callFrom(value), value.at("start_ns").get<int64_t>(),
          end.is_null() ? 0 : end.get<int64_t>()};
}

json phaseJson(const PhaseRecord& phase) {
  return {{"step", phase.mark.step},
          {"phase", phaseName(phase.mark.phase)},
          {"start_ns", phase.startNs}};
}

PhaseRecord phaseFrom(const json& value) {
  const std::string name = value.at("phase").get<std::string>();
  const std::optional<Phase> phase = phaseNamed(name);
  if (!phase) throw std::invalid_argument("unknown phase \"" + name + "\"");
  return {{value.at("step").get<int64_t>(), *phase}, value.at("start_ns").get<int64_t>()};
}

json rankTimelineJson(const RankTimeline& timeline) {
  json phases = json::array();
  for (const PhaseRecord& phase : timeline.phases) phases.push_back(phaseJson(phase));
  json calls = json::array();
  for (const TimelineCall& call : timeline.calls) calls.push_back(timedCallJson(call));
  return {{"rank", timeline.rank},      {"host", timeline.host},  {"pid", timeline.pid},
          {"from_ns", timeline.fromNs}, {"to_ns", timeline.toNs}, {"phases", std::move(phases)},
          {"calls", std::move(calls)}};
}

RankTimeline rankTimelineFrom(const json& value) {
  RankTimeline timeline;
  timeline.rank = value.at("rank").get<int>();
  timeline.host = value.at("host").get<std::string>();
  timeline.pid = value.at("pid").get<int>();
  timeline.fromNs = value.at("from_ns").get<int64_t>();
  timeline.toNs = value.at("to_ns").get<int64_t>();
  for (const json& phase : value.at("phases")) timeline.phases.push_back(phaseFrom(phase));
  for (const json& call : value.at("calls")) timeline.calls.push_back(timedCallFrom(call));
  return timeline;
}

json chromeTrace(const std::vector<RankTimeline>& ranks, const json& otherData) {
  int64_t originNs = std::numeric_limits<int64_t>::max();
  for (const RankTimeline& rank : ranks) originNs = std::min(originNs, rank.fromNs);
  json events = json::array();
  for (const RankTimeline& rank : ranks) {
    const int pid = processOf(rank.rank);
    events.push_back(metadata("process_name", pid, kStepTrack,
                              {{"name", "rank " + std::to_string(rank.rank) + " (" + rank.host +
                                            ", pid " + std::to_string(rank.pid) + ")"}}));
    events.push_back(metadata("process_sort_index", pid, kStepTrack, {{"sort_index", rank.rank}}));
    events.push_back(metadata("thread_name", pid, kStepTrack, {{"name", "steps and phases"}}));
    addSteps(rank, originNs, events);
    const int tracks = addCalls(rank, originNs, events);
    for (int track = 1; track <= tracks; ++track) {
      events.push_back(metadata(
          "thread_name", pid, kStepTrack + track,
          {{"name", track == 1 ? "communication" : "communication " + std::to_string(track)}}));
    }
  }
  return {{"traceEvents", std::move(events)}, {"displayTimeUnit", "ms"}, {"otherData", otherData}};
}

}  // namespace ringtrain::health
