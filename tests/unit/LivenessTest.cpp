// Heartbeat bookkeeping (health/Liveness.h): the message survives its encoding, and a watched
// rank is lost exactly when it has been silent for the timeout or closed for the grace, never
// after a goodbye, and not for time this process itself spent stopped.
#include <gtest/gtest.h>

#include "health/Liveness.h"

namespace ringtrain::health {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

Beat beatOf(int rank, int64_t step, Phase phase) {
  return {BeatKind::kBeat, rank, 4000 + rank, {step, phase}, "host-" + std::to_string(rank), {}};
}

TEST(BeatTest, RoundTrips) {
  const Beat sent{BeatKind::kGoodbye, 7, 4121, {1204, Phase::kBackward}, "node-b.example", {}};
  const std::optional<Beat> received = decodeBeat(encodeBeat(sent));
  ASSERT_TRUE(received);
  EXPECT_EQ(received->kind, BeatKind::kGoodbye);
  EXPECT_EQ(received->rank, 7);
  EXPECT_EQ(received->pid, 4121);
  EXPECT_EQ(received->progress.step, 1204);
  EXPECT_EQ(received->progress.phase, Phase::kBackward);
  EXPECT_EQ(received->host, "node-b.example");
}

TEST(BeatTest, CarriesTheCallARankWaitsIn) {
  Beat sent = beatOf(2, 20, Phase::kOptimizer);
  sent.waiting = WaitingCall{3, 5012, "allreduce", "bucket", 2, 1 << 20};
  const std::optional<Beat> received = decodeBeat(encodeBeat(sent));
  ASSERT_TRUE(received && received->waiting);
  EXPECT_EQ(received->waiting->communicator, 3);
  EXPECT_EQ(received->waiting->sequence, 5012);
  EXPECT_EQ(received->waiting->operation, "allreduce");
  EXPECT_EQ(received->waiting->labelKind, "bucket");
  EXPECT_EQ(received->waiting->labelIndex, 2);
  EXPECT_EQ(received->waiting->bytes, 1 << 20);
  EXPECT_FALSE(decodeBeat(encodeBeat(beatOf(2, 20, Phase::kOptimizer)))->waiting);
}

TEST(BeatTest, CutsLongHostNamesAndRejectsStrangers) {
  Beat beat = beatOf(1, 3, Phase::kForward);
  beat.host = std::string(200, 'h');
  EXPECT_EQ(decodeBeat(encodeBeat(beat))->host, std::string(kHostBytes - 1, 'h'));
  BeatBytes garbage{};
  garbage.fill('x');
  EXPECT_FALSE(decodeBeat(garbage));
  BeatBytes badKind = encodeBeat(beat);
  badKind[5] = 9;
  EXPECT_FALSE(decodeBeat(badKind));
}

TEST(PhaseTest, NamesGoBothWays) {
  for (const Phase phase :
       {Phase::kStarting, Phase::kData, Phase::kForward, Phase::kBackward, Phase::kOptimizer,
        Phase::kCheckpoint, Phase::kEvaluation, Phase::kFinishing}) {
    EXPECT_EQ(phaseNamed(phaseName(phase)), phase);
  }
  EXPECT_FALSE(phaseNamed("lunch"));
}

TEST(LivenessTest, SilenceForTheTimeoutLosesARank) {
  const LivenessClock::time_point start{};
  Liveness liveness({1, 2, 3}, start);
  liveness.heard(beatOf(2, 41, Phase::kBackward), start + seconds(5));
  liveness.heard(beatOf(1, 42, Phase::kForward), start + seconds(11));
  liveness.heard(beatOf(3, 42, Phase::kData), start + seconds(11));
  EXPECT_TRUE(liveness.lost(start + milliseconds(14999), seconds(10), seconds(2)).empty());
  const std::vector<LostRank> lost = liveness.lost(start + seconds(15), seconds(10), seconds(2));
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].last.rank, 2);
  EXPECT_FALSE(lost[0].exited);
  EXPECT_DOUBLE_EQ(lost[0].silentSeconds, 10.0);
  EXPECT_EQ(describeLost(lost),
            "rank 2 (host host-2, pid 4002) stopped answering heartbeats 10.0 s ago (frozen, or "
            "its host is gone); it last reported step 41, backward\n");
}

TEST(LivenessTest, RanksSilentTogetherAreLostTogether) {
  const LivenessClock::time_point start{};
  Liveness liveness({1, 2, 3}, start);
  liveness.heard(beatOf(2, 8, Phase::kBackward), start + milliseconds(100));
  liveness.heard(beatOf(3, 8, Phase::kBackward), start + milliseconds(900));
  liveness.heard(beatOf(1, 8, Phase::kBackward), start + milliseconds(10000));
  const std::vector<LostRank> lost =
      liveness.lost(start + milliseconds(10100), seconds(10), seconds(2));
  ASSERT_EQ(lost.size(), 2u);
  EXPECT_EQ(lost[0].last.rank, 2);
  EXPECT_EQ(lost[1].last.rank, 3);
}

TEST(LivenessTest, AClosedConnectionLosesARankAfterTheGrace) {
  const LivenessClock::time_point start{};
  Liveness liveness({1, 2}, start);
  liveness.heard(beatOf(1, 7, Phase::kOptimizer), start + seconds(1));
  liveness.closed(1, start + seconds(2));
  liveness.closed(1, start + seconds(3));  // the first close counts
  EXPECT_TRUE(liveness.lost(start + milliseconds(3999), seconds(10), seconds(2)).empty());
  const std::vector<LostRank> lost = liveness.lost(start + seconds(4), seconds(10), seconds(2));
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_TRUE(lost[0].exited);
  EXPECT_EQ(describeLost(lost),
            "rank 1 (host host-1, pid 4001) exited before the end (killed, crashed, or ended by "
            "an error of its own); it last reported step 7, optimizer step\n");
}

TEST(LivenessTest, AGoodbyeEndsTheWatch) {
  const LivenessClock::time_point start{};
  Liveness liveness({1, 2}, start);
  liveness.leftNormally(2);
  liveness.closed(2, start + seconds(1));
  const std::vector<LostRank> lost = liveness.lost(start + seconds(60), seconds(10), seconds(2));
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].last.rank, 1);
  // Never heard beyond the start: reported as starting.
  EXPECT_NE(describeLost(lost).find("it last reported starting"), std::string::npos);
}

TEST(LivenessTest, OwnPausesAreNotThePeersSilence) {
  const LivenessClock::time_point start{};
  Liveness liveness({1}, start);
  liveness.closed(1, start + seconds(1));
  // This process stood still for 30 s: the peer's 10 s allowance starts again.
  liveness.postpone(seconds(30));
  EXPECT_TRUE(liveness.lost(start + seconds(31), seconds(10), seconds(2)).empty());
  EXPECT_EQ(liveness.lost(start + seconds(33), seconds(10), seconds(2)).size(), 1u);
}

TEST(LivenessTest, BeatsFromStrangersAreIgnored) {
  const LivenessClock::time_point start{};
  Liveness liveness({1}, start);
  liveness.heard(beatOf(5, 1, Phase::kForward), start + seconds(20));
  liveness.closed(5, start);
  liveness.leftNormally(5);
  const std::vector<LostRank> lost = liveness.lost(start + seconds(20), seconds(10), seconds(2));
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].last.rank, 1);
}

}  // namespace
}  // namespace ringtrain::health
