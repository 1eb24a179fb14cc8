// Ranks' phases and calls as a Chrome/Perfetto trace (health/Timeline.h).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <stdexcept>

#include "health/Timeline.h"

namespace ringtrain::health {
namespace {

using nlohmann::json;

constexpr int64_t kMs = 1000000;                 // nanoseconds
constexpr int64_t kStart = 1765000000000000000;  // an hour of December 2025, since the epoch

// Two steps: data, forward, backward, optimizer in each, 10 ms apart, from `offsetNs` on; the
// buckets' allreduces inside each backward.
RankTimeline twoSteps(int rank, int64_t offsetNs) {
  RankTimeline timeline{rank, rank == 0 ? "a" : "b", 100 + rank, kStart + offsetNs, 0, {}, {}};
  int64_t at = kStart + offsetNs;
  for (int64_t step = 7; step <= 8; ++step) {
    for (Phase phase : {Phase::kData, Phase::kForward, Phase::kBackward, Phase::kOptimizer}) {
      timeline.phases.push_back({{step, phase}, at});
      if (phase == Phase::kBackward) {
        for (int bucket = 0; bucket < 2; ++bucket) {
          timeline.calls.push_back({WaitingCall{1, 2 * step + bucket, "allreduce", "bucket", bucket,
                                                4096 * (bucket + 1)},
                                    at + (2 + 3 * bucket) * kMs, at + (4 + 3 * bucket) * kMs});
        }
      }
      at += 10 * kMs;
    }
  }
  timeline.toNs = at;
  return timeline;
}

std::vector<json> slicesOf(const json& trace, int pid, int tid) {
  std::vector<json> slices;
  for (const json& event : trace.at("traceEvents")) {
    if (event.at("ph") == "X" && event.at("pid") == pid && event.at("tid") == tid)
      slices.push_back(event);
  }
  return slices;
}

std::map<std::pair<int, int>, std::string> namesOf(const json& trace, const std::string& kind) {
  std::map<std::pair<int, int>, std::string> names;
  for (const json& event : trace.at("traceEvents")) {
    if (event.at("ph") == "M" && event.at("name") == kind)
      names[{event.at("pid").get<int>(), event.at("tid").get<int>()}] =
          event.at("args").at("name").get<std::string>();
  }
  return names;
}

TEST(TimelineTest, EachRankIsAProcessWithItsStepsAndPhasesNested) {
  const json trace = chromeTrace({twoSteps(0, 0), twoSteps(1, 3 * kMs)}, {{"note", 1}});
  EXPECT_EQ(trace.at("displayTimeUnit"), "ms");
  EXPECT_EQ(trace.at("otherData"), (json{{"note", 1}}));
  const auto processes = namesOf(trace, "process_name");
  EXPECT_EQ(processes.at({1, 1}), "rank 0 (a, pid 100)");
  EXPECT_EQ(processes.at({2, 1}), "rank 1 (b, pid 101)");
  EXPECT_EQ(namesOf(trace, "thread_name").at({2, 1}), "steps and phases");

  const std::vector<json> rank1 = slicesOf(trace, 2, 1);
  ASSERT_EQ(rank1.size(), 10u);  // 2 steps, 4 phases each
  // Step 7, then its phases; times in microseconds from the earliest rank's start.
  EXPECT_EQ(rank1[0].at("name"), "step 7");
  EXPECT_DOUBLE_EQ(rank1[0].at("ts").get<double>(), 3000.0);
  EXPECT_DOUBLE_EQ(rank1[0].at("dur").get<double>(), 40000.0);
  EXPECT_EQ(rank1[1].at("name"), "waiting for data");
  EXPECT_EQ(rank1[3].at("name"), "backward");
  EXPECT_DOUBLE_EQ(rank1[3].at("ts").get<double>(), 23000.0);
  EXPECT_DOUBLE_EQ(rank1[3].at("dur").get<double>(), 10000.0);
  EXPECT_EQ(rank1[3].at("args").at("step"), 7);
  EXPECT_EQ(rank1[5].at("name"), "step 8");
  // The last phase lasts to the end of what was recorded.
  EXPECT_EQ(rank1[9].at("name"), "optimizer step");
  EXPECT_DOUBLE_EQ(rank1[9].at("ts").get<double>() + rank1[9].at("dur").get<double>(), 83000.0);
  // Every phase inside its step.
  for (size_t index = 0; index < rank1.size(); ++index) {
    if (rank1[index].at("cat") != "phase") continue;
    const json& step = rank1[index < 5 ? 0 : 5];
    EXPECT_GE(rank1[index].at("ts").get<double>(), step.at("ts").get<double>());
    EXPECT_LE(rank1[index].at("ts").get<double>() + rank1[index].at("dur").get<double>(),
              step.at("ts").get<double>() + step.at("dur").get<double>());
  }
}

TEST(TimelineTest, CallsAreSlicesWithTheirBytesBucketAndStep) {
  const json trace = chromeTrace({twoSteps(0, 0)});
  const std::vector<json> calls = slicesOf(trace, 1, 2);
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[1].at("name"), "allreduce bucket 1");
  EXPECT_EQ(calls[1].at("cat"), "communication");
  EXPECT_EQ(
      calls[1].at("args"),
      (json{{"bytes", 8192}, {"communicator", 1}, {"sequence", 15}, {"bucket", 1}, {"step", 7}}));
  EXPECT_DOUBLE_EQ(calls[1].at("ts").get<double>(), 25000.0);
  EXPECT_DOUBLE_EQ(calls[1].at("dur").get<double>(), 2000.0);
  // Back to whole nanoseconds, as viewers round them: exactly where the call was.
  EXPECT_EQ(std::llround(calls[1].at("ts").get<double>() * 1000), 25 * kMs);
  EXPECT_EQ(std::llround(calls[1].at("dur").get<double>() * 1000), 2 * kMs);
  EXPECT_EQ(calls[3].at("args").at("step"), 8);
  EXPECT_EQ(namesOf(trace, "thread_name").at({1, 2}), "communication");
}

TEST(TimelineTest, OverlappingCallsTakeTracksOfTheirOwn) {
  RankTimeline rank{0, "a", 1, kStart, kStart + 100 * kMs, {{{1, Phase::kBackward}, kStart}}, {}};
  const auto call = [&](const char* operation, int64_t from, int64_t to) {
    rank.calls.push_back({WaitingCall{2, 0, operation, "", -1, 8}, kStart + from * kMs,
                          to < 0 ? 0 : kStart + to * kMs});
  };
  call("send", 0, 50);
  call("recv", 10, 20);       // inside the send, yet not nested in it: a second track
  call("recv", 30, 60);       // the second track is free again
  call("send", 55, 70);       // the first is free again
  call("allreduce", 58, -1);  // still running when recorded: ends at toNs
  const json trace = chromeTrace({rank});
  const std::vector<json> first = slicesOf(trace, 1, 2);
  const std::vector<json> second = slicesOf(trace, 1, 3);
  const std::vector<json> third = slicesOf(trace, 1, 4);
  ASSERT_EQ(first.size(), 2u);
  ASSERT_EQ(second.size(), 2u);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_DOUBLE_EQ(first[1].at("ts").get<double>(), 55000.0);
  EXPECT_EQ(first[1].at("args").count("sequence"), 0u);  // point-to-point: no number
  EXPECT_EQ(third[0].at("name"), "allreduce");
  EXPECT_EQ(third[0].at("args").at("unfinished"), true);
  EXPECT_DOUBLE_EQ(third[0].at("dur").get<double>(), 42000.0);
  EXPECT_EQ(namesOf(trace, "thread_name").at({1, 4}), "communication 3");
}

TEST(TimelineTest, ARanksPartSurvivesItsJson) {
  RankTimeline sent = twoSteps(3, 0);
  sent.calls.push_back({WaitingCall{4, 9, "broadcast", "", -1, 12}, kStart + kMs, 0});
  sent.calls.push_back({WaitingCall{1, 3, "allreduce", "scalars", -1, 12}, kStart + 2 * kMs, 0});
  const RankTimeline received = rankTimelineFrom(json::parse(rankTimelineJson(sent).dump()));
  EXPECT_EQ(chromeTrace({received}), chromeTrace({sent}));
  EXPECT_EQ(received.calls[4].endNs, 0);
  EXPECT_EQ(received.calls.front().call.labelKind, "bucket");
  EXPECT_EQ(received.calls.front().call.labelIndex, 0);
  EXPECT_EQ(received.calls.back().call.labelKind, "scalars");
  EXPECT_EQ(received.calls.back().call.labelIndex, -1);
  // A label without an index is an argument of its own.
  const json trace = chromeTrace({sent});
  for (const json& event : trace.at("traceEvents")) {
    if (event.at("name") == "allreduce scalars") {
      EXPECT_EQ(event.at("args").at("label"), "scalars");
    }
  }
  EXPECT_THROW(phaseFrom({{"step", 1}, {"phase", "lunch"}, {"start_ns", 0}}),
               std::invalid_argument);
}

}  // namespace
}  // namespace ringtrain::health
