// The lifetimes the NCCL backend relies on, shown with stand-ins for CUDA streams and NCCL
// communicators: per-device streams made once and never destroyed, and a communicator that an
// abort on another thread can end without a query reading it as it is freed.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "comm/EndedOnce.h"
#include "comm/PerDevice.h"

namespace ringtrain::comm {
namespace {

struct FakeStream {
  int device = -1;
};

TEST(PerDevice, MakesOneHandlePerDeviceAndKeepsIt) {
  std::atomic<int> made{0};
  PerDevice<FakeStream*> streams([&](int device) {
    ++made;
    return new FakeStream{device};  // never freed, like the streams
  });
  FakeStream* first = streams.of(0);
  EXPECT_EQ(first->device, 0);
  EXPECT_EQ(streams.of(0), first);
  EXPECT_EQ(streams.of(1)->device, 1);
  EXPECT_NE(streams.of(1), first);
  EXPECT_EQ(made, 2);
}

TEST(PerDevice, ThreadsAskingAtOnceGetTheSameHandle) {
  std::atomic<int> made{0};
  PerDevice<FakeStream*> streams([&](int device) {
    ++made;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // widen the window
    return new FakeStream{device};
  });
  std::vector<FakeStream*> seen(8);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < seen.size(); ++t) {
    threads.emplace_back([&, t] { seen[t] = streams.of(3); });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(made, 1);
  for (FakeStream* stream : seen) EXPECT_EQ(stream, seen.front());
}

TEST(PerDevice, AFailedMakeLeavesNothingBehind) {
  int attempts = 0;
  PerDevice<int> streams([&](int device) {
    if (++attempts == 1) throw std::runtime_error("out of resources");
    return device * 10;
  });
  EXPECT_THROW(streams.of(2), std::runtime_error);
  EXPECT_EQ(streams.of(2), 20);
  EXPECT_EQ(attempts, 2);
}

// Freed memory is marked, so a query that ran after the end would see it.
struct FakeComm {
  std::atomic<bool> freed{false};
  std::atomic<int> queriesAfterFree{0};
};

TEST(EndedOnce, EndsOnceWhoeverComesFirst) {
  FakeComm comm;
  EndedOnce<FakeComm*> handle(&comm);
  int ends = 0;
  EXPECT_TRUE(handle.end([&](FakeComm* c) { ++ends, c->freed = true; }));  // the watchdog's abort
  EXPECT_FALSE(handle.end([&](FakeComm*) { ++ends; }));                    // the destructor
  EXPECT_EQ(ends, 1);
  EXPECT_TRUE(handle.ended());
  EXPECT_FALSE(handle.ifLive([](FakeComm*) { return 1; }).has_value());
}

TEST(EndedOnce, AnEndWaitsForAQueryInProgress) {
  FakeComm comm;
  EndedOnce<FakeComm*> handle(&comm);
  std::atomic<bool> querying{false};
  std::thread reader([&] {
    handle.ifLive([&](FakeComm* c) {
      querying = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a slow query
      if (c->freed) ++c->queriesAfterFree;
      return 0;
    });
  });
  while (!querying) std::this_thread::yield();
  // The watchdog's abort, while the query is in progress: it must wait for the query to finish.
  handle.end([](FakeComm* c) { c->freed = true; });
  reader.join();
  EXPECT_EQ(comm.queriesAfterFree, 0);
  EXPECT_FALSE(handle.ifLive([](FakeComm*) { return 0; }).has_value());
}

}  // namespace
}  // namespace ringtrain::comm
