#include <gtest/gtest.h>

#include <future>

#include "comm/Watchdog.h"

namespace ringtrain::comm {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(OpenWaits, NothingExpiresBeforeTheTimeout) {
  OpenWaits waits;
  const WatchClock::time_point start{};
  waits.open("allreduce", 4 << 20, start);
  EXPECT_FALSE(waits.oldestExpired(start + seconds(9), seconds(10)));
  const auto expired = waits.oldestExpired(start + seconds(10), seconds(10));
  ASSERT_TRUE(expired);
  EXPECT_EQ(expired->description, "allreduce of 4.0 MiB");
  EXPECT_EQ(expired->waited, seconds(10));
}

TEST(OpenWaits, ReportsTheOldestOpenWait) {
  OpenWaits waits;
  const WatchClock::time_point start{};
  const uint64_t first = waits.open("broadcast", 100, start);
  waits.open("allreduce", 3 * 1024 + 512, start + seconds(2));
  waits.open("barrier", 0, start + seconds(4));
  EXPECT_EQ(waits.oldestExpired(start + seconds(20), seconds(5))->description,
            "broadcast of 100 bytes");
  waits.close(first);
  const auto expired = waits.oldestExpired(start + seconds(20), seconds(5));
  EXPECT_EQ(expired->description, "allreduce of 3.5 KiB");
  EXPECT_EQ(expired->waited, seconds(18));
  EXPECT_EQ(waits.size(), 2u);
}

TEST(OpenWaits, ClosedWaitsNeverExpire) {
  OpenWaits waits;
  const WatchClock::time_point start{};
  for (int i = 0; i < 5; ++i) waits.close(waits.open("barrier", 0, start + seconds(i)));
  EXPECT_EQ(waits.size(), 0u);
  EXPECT_FALSE(waits.oldestExpired(start + seconds(3600), seconds(1)));
  EXPECT_EQ(waits.oldestExpired(start + seconds(3600), seconds(1)), std::nullopt);
}

TEST(OpenWaits, TimeSpentPausedDoesNotCount) {
  OpenWaits waits;
  const WatchClock::time_point start{};
  waits.open("allreduce", 0, start);
  waits.postpone(seconds(30));
  EXPECT_FALSE(waits.oldestExpired(start + seconds(35), seconds(10)));
  EXPECT_EQ(waits.oldestExpired(start + seconds(40), seconds(10))->waited, seconds(10));
}

TEST(OpenWaits, QueuedWorkClosesWhenItSaysItIsDone) {
  OpenWaits waits;
  const WatchClock::time_point start{};
  bool firstDone = false;
  const uint64_t first = waits.open("allreduce", 8, start, [&] { return firstDone; });
  const uint64_t second = waits.open("broadcast", 8, start, [] { return false; });
  waits.closeFinished();
  EXPECT_TRUE(waits.isOpen(first));
  firstDone = true;
  waits.closeFinished();
  EXPECT_FALSE(waits.isOpen(first));
  EXPECT_TRUE(waits.isOpen(second));
  EXPECT_EQ(waits.oldestExpired(start + seconds(10), seconds(5))->id, second);
}

TEST(Watchdog, DisarmedWatchesNeverFire) {
  Watchdog watchdog;
  const auto watch = watchdog.watch("allreduce", 8);
  EXPECT_FALSE(watchdog.armed());
}

TEST(Watchdog, CallsTheHandlerOnceAWaitOutlivesTheTimeout) {
  Watchdog watchdog;
  std::promise<OpenWaits::Expired> fired;
  watchdog.arm(milliseconds(50),
               [&](const OpenWaits::Expired& expired) { fired.set_value(expired); });
  const auto started = WatchClock::now();
  const auto watch = watchdog.watch("barrier", 0);
  auto result = fired.get_future();
  ASSERT_EQ(result.wait_for(seconds(10)), std::future_status::ready);
  const OpenWaits::Expired expired = result.get();
  EXPECT_EQ(expired.description, "barrier");
  EXPECT_GE(expired.waited, milliseconds(50));
  EXPECT_GE(WatchClock::now() - started, milliseconds(50));
}

TEST(Watchdog, WaitsThatEndInTimeDoNotFire) {
  Watchdog watchdog;
  std::atomic<int> calls{0};
  watchdog.arm(milliseconds(200), [&](const OpenWaits::Expired&) { ++calls; });
  for (int i = 0; i < 20; ++i) {
    const auto watch = watchdog.watch("allreduce", 4);
    std::this_thread::sleep_for(milliseconds(10));
  }
  std::this_thread::sleep_for(milliseconds(300));  // nothing open: idle time is not a wait
  EXPECT_EQ(calls.load(), 0);
}

TEST(Watchdog, QueuedWorkThatNeverFinishesFires) {
  Watchdog watchdog;
  std::promise<std::string> fired;
  watchdog.arm(milliseconds(50),
               [&](const OpenWaits::Expired& expired) { fired.set_value(expired.description); });
  std::atomic<bool> done{false};
  watchdog.watchUntil("allreduce", 2048, [&] { return done.load(); });
  auto result = fired.get_future();
  ASSERT_EQ(result.wait_for(seconds(10)), std::future_status::ready);
  EXPECT_EQ(result.get(), "allreduce of 2.0 KiB");
}

TEST(Watchdog, QueuedWorkThatFinishesDoesNotFire) {
  Watchdog watchdog;
  std::atomic<int> calls{0};
  watchdog.arm(milliseconds(200), [&](const OpenWaits::Expired&) { ++calls; });
  std::atomic<bool> done{false};
  watchdog.watchUntil("allreduce", 4, [&] { return done.load(); });
  std::this_thread::sleep_for(milliseconds(50));
  done = true;
  std::this_thread::sleep_for(milliseconds(400));
  EXPECT_EQ(calls.load(), 0);
}

TEST(Watchdog, AWaitThatEndsWhileHeldBackIsNotReported) {
  Watchdog watchdog;
  std::atomic<int> calls{0};
  watchdog.arm(
      milliseconds(50), [&](const OpenWaits::Expired&) { ++calls; }, milliseconds(2000));
  {
    const auto watch = watchdog.watch("barrier", 0);
    std::this_thread::sleep_for(milliseconds(400));  // expired, but still held back
  }
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(calls.load(), 0);
}

TEST(Watchdog, HoldBackDelaysTheReport) {
  Watchdog watchdog;
  std::promise<void> fired;
  watchdog.arm(
      milliseconds(50), [&](const OpenWaits::Expired&) { fired.set_value(); }, milliseconds(300));
  const auto started = WatchClock::now();
  const auto watch = watchdog.watch("barrier", 0);
  auto result = fired.get_future();
  ASSERT_EQ(result.wait_for(seconds(10)), std::future_status::ready);
  EXPECT_GE(WatchClock::now() - started, milliseconds(350));
}

TEST(Watchdog, AReportedFailureEndsTheJobAtOnceAfterTheAbortActions) {
  Watchdog watchdog;
  std::vector<std::string> events;  // written on the watchdog's thread only
  std::promise<OpenWaits::Expired> fired;
  watchdog.arm(seconds(60), [&](const OpenWaits::Expired& expired) {
    events.push_back("handler");
    fired.set_value(expired);
  });
  std::atomic<bool> broken{false};
  watchdog.addFailureProbe([&]() -> std::optional<std::string> {
    if (!broken) return std::nullopt;
    return "NCCL reported: remote process exited";
  });
  const uint64_t removed = watchdog.addAbortAction([&] { events.push_back("removed"); });
  watchdog.addAbortAction([&] { events.push_back("abort"); });
  watchdog.remove(removed);
  std::this_thread::sleep_for(milliseconds(100));
  const auto started = WatchClock::now();
  broken = true;
  auto result = fired.get_future();
  ASSERT_EQ(result.wait_for(seconds(10)), std::future_status::ready);
  EXPECT_LT(WatchClock::now() - started, seconds(5));  // far below the 60 s timeout
  EXPECT_EQ(result.get().failure, "NCCL reported: remote process exited");
  EXPECT_EQ(events, (std::vector<std::string>{"abort", "handler"}));
}

TEST(Watchdog, AbortActionsRunBeforeTheHandlerOnATimeout) {
  Watchdog watchdog;
  std::atomic<bool> aborted{false};
  std::promise<bool> abortedFirst;
  watchdog.arm(milliseconds(50),
               [&](const OpenWaits::Expired&) { abortedFirst.set_value(aborted.load()); });
  watchdog.addAbortAction([&] { aborted = true; });
  const auto watch = watchdog.watch("allreduce", 8);
  auto result = abortedFirst.get_future();
  ASSERT_EQ(result.wait_for(seconds(10)), std::future_status::ready);
  EXPECT_TRUE(result.get());
}

}  // namespace
}  // namespace ringtrain::comm
