// The schedules against the checker for many (P, M), and the checker against schedules that are
// wrong on purpose.
#include <gtest/gtest.h>

#include <algorithm>

#include "pipeline/Schedule.h"
#include "pipeline/ScheduleCheck.h"

namespace ringtrain::pipeline {
namespace {

std::string problemsOf(const ScheduleReport& report) {
  std::string text;
  for (const std::string& problem : report.problems) text += problem + "\n";
  return text;
}

TEST(PipelineSchedule, EverySizeIsSoundAndMatchesTheBubbleFormula) {
  for (const ScheduleKind kind : {ScheduleKind::kGpipe, ScheduleKind::k1f1b}) {
    for (int stages = 1; stages <= 8; ++stages) {
      for (int microBatches = 1; microBatches <= 32; ++microBatches) {
        const ScheduleReport report =
            checkSchedule(makeSchedule(kind, stages, microBatches), microBatches);
        ASSERT_TRUE(report.sound())
            << scheduleName(kind) << " P=" << stages << " M=" << microBatches << "\n"
            << problemsOf(report);
        // Equal stages, free transfers: the idle share is exactly the fill and drain.
        EXPECT_NEAR(report.bubbleFraction, theoreticalBubble(stages, microBatches), 1e-12)
            << scheduleName(kind) << " P=" << stages << " M=" << microBatches;
        EXPECT_NEAR(report.stepTime, (microBatches + stages - 1) * 3.0, 1e-9);
      }
    }
  }
}

TEST(PipelineSchedule, GpipeHoldsEveryMicroBatchAndOneFOneBAtMostTheStagesAhead) {
  for (int stages = 1; stages <= 8; ++stages) {
    for (int microBatches = 1; microBatches <= 32; ++microBatches) {
      const ScheduleReport gpipe =
          checkSchedule(makeSchedule(ScheduleKind::kGpipe, stages, microBatches), microBatches);
      const ScheduleReport oneFOneB =
          checkSchedule(makeSchedule(ScheduleKind::k1f1b, stages, microBatches), microBatches);
      for (int s = 0; s < stages; ++s) {
        EXPECT_EQ(gpipe.maxInFlight[s], microBatches);
        EXPECT_EQ(oneFOneB.maxInFlight[s], std::min(stages - s, microBatches))
            << "stage " << s << " of " << stages << ", M=" << microBatches;
      }
    }
  }
}

TEST(PipelineSchedule, UnequalStagesStillFinish) {
  for (const ScheduleKind kind : {ScheduleKind::kGpipe, ScheduleKind::k1f1b}) {
    const ScheduleReport report = checkSchedule(makeSchedule(kind, 4, 8), 8, {1.0, 5.0});
    EXPECT_TRUE(report.sound()) << problemsOf(report);
    EXPECT_GT(report.stepTime, 0);
  }
}

TEST(PipelineSchedule, OneStageIsPlainGradientAccumulation) {
  const auto schedules = makeSchedule(ScheduleKind::k1f1b, 1, 3);
  ASSERT_EQ(schedules.size(), 1u);
  std::vector<std::string> actions;
  for (const Action& action : schedules[0]) actions.push_back(describe(action));
  EXPECT_EQ(actions, (std::vector<std::string>{"F0", "B0", "F1", "B1", "F2", "B2"}));
}

TEST(PipelineSchedule, OneFOneBPairsEachSendWithTheNextReceiveFromThatNeighbour) {
  const auto schedules = makeSchedule(ScheduleKind::k1f1b, 3, 4);
  std::vector<std::string> middle;
  for (const Action& action : schedules[1]) middle.push_back(describe(action));
  EXPECT_EQ(middle, (std::vector<std::string>{
                        "receive activation 0 from stage 0", "F0", "send activation 0 to stage 2",
                        "receive activation 1 from stage 0", "F1",
                        "send activation 1 to and receive gradient 0 from stage 2", "B0",
                        "send gradient 0 to and receive activation 2 from stage 0", "F2",
                        "send activation 2 to and receive gradient 1 from stage 2", "B1",
                        "send gradient 1 to and receive activation 3 from stage 0", "F3",
                        "send activation 3 to and receive gradient 2 from stage 2", "B2",
                        "send gradient 2 to stage 0", "receive gradient 3 from stage 2", "B3",
                        "send gradient 3 to stage 0"}));
}

// --- the checker catches what is wrong -----------------------------------------------------------

// 1F1B with every exchange split into a send followed by a receive: neighbours in the steady
// state both send first and wait for each other.
std::vector<StageSchedule> unpairedOneFOneB(int stages, int microBatches) {
  std::vector<StageSchedule> schedules = makeSchedule(ScheduleKind::k1f1b, stages, microBatches);
  for (StageSchedule& schedule : schedules) {
    StageSchedule split;
    for (const Action& action : schedule) {
      if (action.type != Action::Type::kExchange) {
        split.push_back(action);
        continue;
      }
      Action send = action;
      send.type = Action::Type::kSend;
      Action receive = action;
      receive.type = Action::Type::kReceive;
      split.push_back(send);
      split.push_back(receive);
    }
    schedule = split;
  }
  return schedules;
}

TEST(ScheduleCheck, FindsTheDeadlockOfUnpairedSends) {
  const ScheduleReport report = checkSchedule(unpairedOneFOneB(4, 8), 8);
  EXPECT_TRUE(report.deadlocked);
  ASSERT_FALSE(report.problems.empty());
  EXPECT_NE(report.problems.front().find("deadlock"), std::string::npos) << problemsOf(report);
}

TEST(ScheduleCheck, FindsABackwardBeforeItsForward) {
  auto schedules = makeSchedule(ScheduleKind::kGpipe, 1, 2);
  std::swap(schedules[0][0], schedules[0][2]);  // B0 first
  const ScheduleReport report = checkSchedule(schedules, 2);
  EXPECT_FALSE(report.sound());
  EXPECT_NE(problemsOf(report).find("B0: before F0"), std::string::npos) << problemsOf(report);
}

TEST(ScheduleCheck, FindsAMissingReceive) {
  auto schedules = makeSchedule(ScheduleKind::kGpipe, 2, 2);
  schedules[1].erase(schedules[1].begin());  // stage 1 forgets to receive activation 0
  const std::string problems = problemsOf(checkSchedule(schedules, 2));
  EXPECT_NE(problems.find("F0: before its activation arrived"), std::string::npos) << problems;
  EXPECT_NE(problems.find("receives it 0 time(s)"), std::string::npos) << problems;
}

TEST(ScheduleCheck, FindsAMessageToTheWrongStage) {
  auto schedules = makeSchedule(ScheduleKind::kGpipe, 3, 1);
  for (Action& action : schedules[0]) {
    if (action.sends()) action.peer = 2;
  }
  EXPECT_NE(problemsOf(checkSchedule(schedules, 1)).find("not a neighbouring stage"),
            std::string::npos);
}

TEST(ScheduleCheck, FindsAMissingMicroBatch) {
  const auto schedules = makeSchedule(ScheduleKind::k1f1b, 2, 3);
  const std::string problems = problemsOf(checkSchedule(schedules, 4));
  EXPECT_NE(problems.find("micro-batch 3 has 0 forward(s) and 0 backward(s)"), std::string::npos)
      << problems;
}

}  // namespace
}  // namespace ringtrain::pipeline
