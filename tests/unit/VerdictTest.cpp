// Who stopped a job (health/Verdict.h), from what each rank was doing, and the call log the
// waiting part comes from (comm/CallLog.h).
#include <gtest/gtest.h>

#include <thread>

#include "comm/CallLog.h"
#include "health/Verdict.h"

namespace ringtrain::health {
namespace {

RankState working(int rank, int64_t step, Phase phase) {
  RankState state;
  state.rank = rank;
  state.known = true;
  state.host = rank < 4 ? "a" : "b";
  state.pid = 4000 + rank;
  state.progress = {step, phase};
  return state;
}

RankState waitingIn(int rank, int64_t step, const std::string& operation, int64_t sequence,
                    int64_t bucket) {
  RankState state = working(rank, step, Phase::kOptimizer);
  state.waiting = WaitingCall{1, sequence, operation, bucket >= 0 ? "bucket" : "", bucket, 4096};
  return state;
}

TEST(VerdictTest, NamesTheRankThatStoppedAndTheCallTheOthersWaitIn) {
  std::vector<RankState> ranks;
  for (int rank = 0; rank < 8; ++rank) ranks.push_back(waitingIn(rank, 1204, "allreduce", 5012, 2));
  ranks[3] = working(3, 1204, Phase::kBackward);
  EXPECT_EQ(verdictOf(ranks),
            "rank 3 (host a, pid 4003) stopped in backward of step 1204, outside any "
            "communication call; ranks 0-2 and 4-7 wait in allreduce #5012 (bucket 2) of step "
            "1204");
}

TEST(VerdictTest, ALabelMayHaveNoIndex) {
  EXPECT_EQ(describeCall(WaitingCall{1, 7, "allreduce", "scalars", -1, 12}),
            "allreduce #7 (scalars)");
  EXPECT_EQ(describeCall(WaitingCall{1, 7, "allreduce", "bucket", 0, 12}),
            "allreduce #7 (bucket 0)");
  EXPECT_EQ(describeLabel(WaitingCall{1, 0, "send", "", -1, 12}), "");
}

TEST(VerdictTest, RanksWithoutARecordAreGoneOrFrozen) {
  std::vector<RankState> ranks{waitingIn(0, 7, "broadcast", 30, -1), RankState{},
                               waitingIn(2, 7, "broadcast", 30, -1)};
  ranks[1].rank = 1;
  EXPECT_EQ(
      verdictOf(ranks),
      "rank 1 left nothing (gone, frozen, or ended before it could write); ranks 0 and 2 wait "
      "in "
      "broadcast #30 of step 7");
}

TEST(VerdictTest, EveryRankInOneCallBlamesTheNetwork) {
  const std::vector<RankState> ranks{waitingIn(0, 3, "allreduce", 9, 0),
                                     waitingIn(1, 3, "allreduce", 9, 0)};
  EXPECT_EQ(verdictOf(ranks),
            "ranks 0 and 1 wait in allreduce #9 (bucket 0) of step 3: every rank is in it, so the "
            "network or the backend failed");
}

TEST(VerdictTest, DifferentCallsAreNamedAsSuch) {
  // On two communicators: neither is behind the other.
  std::vector<RankState> ranks{waitingIn(0, 3, "allreduce", 9, 0),
                               waitingIn(1, 3, "broadcast", 4, -1)};
  ranks[1].waiting->communicator = 2;
  EXPECT_EQ(verdictOf(ranks),
            "the ranks wait in different calls; rank 0 waits in allreduce #9 (bucket 0) of step "
            "3; rank 1 waits in broadcast #4 of step 3");
}

TEST(VerdictTest, RanksInAnEarlierCallAreBehind) {
  const std::vector<RankState> ranks{
      waitingIn(0, 7, "allreduce", 4330, -1), waitingIn(1, 7, "allreduce", 4330, -1),
      waitingIn(2, 7, "allreduce", 4329, 0), waitingIn(3, 7, "allreduce", 4329, 0)};
  EXPECT_EQ(verdictOf(ranks),
            "the ranks wait in different calls; ranks 2 and 3 wait in allreduce #4329 (bucket 0) "
            "of step 7, behind the others; ranks 0 and 1 wait in allreduce #4330 of step 7");
}

TEST(VerdictTest, ASilentRankComesFirstWhateverItLastSaid) {
  std::vector<RankState> ranks;
  for (int rank = 0; rank < 4; ++rank) ranks.push_back(waitingIn(rank, 3, "allreduce", 9, 0));
  ranks[3].silentSeconds = 6;
  EXPECT_EQ(verdictOf(ranks),
            "rank 3 (host a, pid 4003) last said it waits in allreduce #9 (bucket 0), silent for "
            "6.0 s (frozen?); ranks 0-2 wait in allreduce #9 (bucket 0) of step 3");
  ranks[3] = working(3, 3, Phase::kForward);
  ranks[3].silentSeconds = 6;
  EXPECT_EQ(
      verdictOf(ranks),
      "rank 3 (host a, pid 4003) stopped in forward of step 3, outside any communication "
      "call, silent for 6.0 s (frozen?); ranks 0-2 wait in allreduce #9 (bucket 0) of step 3");
}

TEST(VerdictTest, RanksDescribeThemselvesCompactly) {
  EXPECT_EQ(describeRanks({5}), "rank 5");
  EXPECT_EQ(describeRanks({0, 1}), "ranks 0 and 1");
  EXPECT_EQ(describeRanks({0, 1, 3}), "ranks 0, 1 and 3");
  EXPECT_EQ(describeRanks({0, 1, 2, 4, 6, 7, 8}), "ranks 0-2, 4 and 6-8");
}

TEST(CallLogTest, NumbersCallsPerCommunicatorAndLabelsThem) {
  comm::CallLog log;
  const int64_t first = log.newCommunicator();
  const int64_t second = log.newCommunicator();
  const uint64_t a = log.start(first, "allreduce", 8, true);
  log.end(a);
  uint64_t b = 0;
  {
    const comm::CallLabel label("bucket", 3);
    b = log.start(first, "allreduce", 16, true);
  }
  const uint64_t c = log.start(second, "broadcast", 4, true);
  log.end(c);
  const std::vector<comm::CallRecord> calls = log.recent();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].sequence, 1);
  EXPECT_EQ(calls[1].sequence, 2);
  EXPECT_EQ(calls[2].sequence, 1);
  EXPECT_EQ(calls[1].labelKind, std::string("bucket"));
  EXPECT_EQ(calls[1].labelIndex, 3);
  EXPECT_EQ(calls[2].labelKind, nullptr);
  EXPECT_EQ(calls[1].endNs, 0);
  EXPECT_GT(calls[0].endNs, 0);
  EXPECT_FALSE(log.blockedIn());
  {
    const comm::CallLog::Blocked blocked(log, b);
    ASSERT_TRUE(log.blockedIn());
    EXPECT_EQ(log.blockedIn()->sequence, 2);
  }
  EXPECT_FALSE(log.blockedIn());
}

TEST(CallLogTest, PointToPointCallsAreNotNumberedAndSplitsDiffer) {
  comm::CallLog log;
  const int64_t world = log.newCommunicator();
  log.end(log.start(world, "send", 8, false));
  log.end(log.start(world, "allreduce", 8, true));
  EXPECT_EQ(log.recent()[0].sequence, 0);
  EXPECT_EQ(log.recent()[1].sequence, 1);
  // The same split on two ranks of one colour gives one number, of another colour another; a
  // second split of the same parent another again.
  comm::CallLog other;
  other.newCommunicator();
  EXPECT_EQ(log.splitCommunicator(world, 0), other.splitCommunicator(world, 0));
  EXPECT_NE(log.splitCommunicator(world, 1), other.splitCommunicator(world, 0));
  EXPECT_NE(log.newCommunicator(/*group=*/0), comm::CallLog().newCommunicator(/*group=*/4));
}

TEST(CallLogTest, PrefersTheTrainingThreadsWait) {
  comm::CallLog log;
  const int64_t communicator = log.newCommunicator();
  const uint64_t early = log.start(communicator, "allreduce", 8, true);
  const uint64_t late = log.start(communicator, "allgather", 8, true);
  std::thread other([&] {
    const comm::CallLog::Blocked blocked(log, early);
    EXPECT_EQ(log.blockedIn()->operation, std::string("allreduce"));  // the only one
    const comm::CallLog::Blocked mine(log, late);
    // Two waits of other threads: the oldest.
    EXPECT_EQ(log.blockedIn()->operation, std::string("allreduce"));
  });
  other.join();
  const comm::CallLog::Blocked blocked(log, late);
  EXPECT_EQ(log.blockedIn()->operation, std::string("allgather"));
}

TEST(CallLogTest, KeepsTheLatestCalls) {
  comm::CallLog log;
  const int64_t communicator = log.newCommunicator();
  for (size_t i = 0; i < comm::CallLog::kCapacity + 10; ++i) {
    log.end(log.start(communicator, "allreduce", 8, true));
  }
  const std::vector<comm::CallRecord> calls = log.recent();
  ASSERT_EQ(calls.size(), comm::CallLog::kCapacity);
  EXPECT_EQ(calls.front().sequence, 11);
  EXPECT_EQ(calls.back().sequence, static_cast<int64_t>(comm::CallLog::kCapacity) + 10);
}

}  // namespace
}  // namespace ringtrain::health
