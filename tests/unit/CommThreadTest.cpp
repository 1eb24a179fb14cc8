// The reducer's communication thread runs each job on the stream its submitter had current, so
// that a bucket copied to the host is read after the kernels that packed it, on whatever stream
// they ran; and drain() makes the caller's stream wait for what the jobs queued there. Shown with
// a fake device (thread-local current streams, as CUDA's are; events that remember their stream)
// of a type LibTorch leaves to extensions.
#include <c10/core/StreamGuard.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <future>
#include <mutex>
#include <stdexcept>
#include <utility>
#include <vector>

#include "ddp/CommThread.h"

namespace ringtrain::ddp {
namespace {

constexpr c10::DeviceType kFake = c10::DeviceType::PrivateUse1;

// Which stream waited for an event recorded on which: (recorded on, made to wait).
std::mutex waitsMutex;
std::vector<std::pair<c10::StreamId, c10::StreamId>> waits;

struct FakeDevice final : c10::impl::DeviceGuardImplInterface {
  static thread_local std::array<c10::StreamId, 4> current;
  c10::DeviceType type() const override { return kFake; }
  c10::Device exchangeDevice(c10::Device device) const override { return device; }
  c10::Device getDevice() const override { return {kFake, 0}; }
  void setDevice(c10::Device) const override {}
  void uncheckedSetDevice(c10::Device) const noexcept override {}
  c10::Stream getStream(c10::Device device) const override {
    return c10::Stream(c10::Stream::UNSAFE, device,
                       current.at(static_cast<size_t>(device.index())));
  }
  c10::Stream exchangeStream(c10::Stream stream) const override {
    const c10::Stream previous = getStream(stream.device());
    current.at(static_cast<size_t>(stream.device_index())) = stream.id();
    return previous;
  }
  c10::DeviceIndex deviceCount() const noexcept override { return 4; }
  // An event is the id of the stream it was recorded on, plus one.
  void record(void** event, const c10::Stream& stream, const c10::DeviceIndex,
              const c10::EventFlag) const override {
    *event = reinterpret_cast<void*>(static_cast<intptr_t>(stream.id() + 1));
  }
  void block(void* event, const c10::Stream& stream) const override {
    const std::lock_guard<std::mutex> lock(waitsMutex);
    waits.emplace_back(reinterpret_cast<intptr_t>(event) - 1, stream.id());
  }
  bool queryEvent(void*) const override { return true; }
  void destroyEvent(void*, const c10::DeviceIndex) const noexcept override {}
};
thread_local std::array<c10::StreamId, 4> FakeDevice::current{};
C10_REGISTER_GUARD_IMPL(PrivateUse1, FakeDevice);

c10::StreamId currentStreamId(c10::Device device) {
  return c10::impl::getDeviceGuardImpl(kFake)->getStream(device).id();
}

TEST(CommThread, AJobRunsOnTheStreamItsSubmitterHadCurrent) {
  const c10::Device device(kFake, 1);
  const c10::Stream users(c10::Stream::UNSAFE, device, 7);
  CommThread thread;
  // Held until the submitter has left its stream, so the job cannot borrow it by timing.
  std::promise<void> release;
  thread.submit([gate = release.get_future().share()] { gate.wait(); });
  c10::StreamId seen = -1;
  c10::StreamId afterwards = -1;
  {
    const c10::StreamGuard onUsersStream(users);
    ASSERT_EQ(currentStreamId(device), 7);
    thread.submit([&] { seen = currentStreamId(device); }, device);
  }
  thread.submit([&] { afterwards = currentStreamId(device); });  // a CPU job: no stream
  release.set_value();
  thread.drain();
  EXPECT_EQ(seen, 7);
  EXPECT_EQ(afterwards, 0) << "the thread went back to its own default stream";
  EXPECT_EQ(currentStreamId(device), 0);
}

TEST(CommThread, DrainMakesTheCallersStreamWaitForWhatTheJobsQueued) {
  const c10::Device device(kFake, 2);
  {
    const std::lock_guard<std::mutex> lock(waitsMutex);
    waits.clear();
  }
  CommThread thread;
  {
    const c10::StreamGuard onStream5(c10::Stream(c10::Stream::UNSAFE, device, 5));
    thread.submit([] {}, device);
  }
  thread.submit([] {});  // a CPU job queues nothing on a device
  {
    // The optimizer runs on stream 9: it must wait for the job's work on stream 5.
    const c10::StreamGuard onStream9(c10::Stream(c10::Stream::UNSAFE, device, 9));
    thread.drain();
  }
  const std::lock_guard<std::mutex> lock(waitsMutex);
  EXPECT_EQ(waits, (std::vector<std::pair<c10::StreamId, c10::StreamId>>{{5, 9}}));
}

TEST(CommThread, AFailureReachesDrainAndDropsTheJobsAfterIt) {
  CommThread thread;
  std::promise<void> release;
  thread.submit([gate = release.get_future().share()] { gate.wait(); });
  int ran = 0;
  thread.submit([] { throw std::runtime_error("peer gone"); });
  thread.submit([&] { ++ran; });
  release.set_value();
  EXPECT_THROW(thread.drain(), std::runtime_error);
  EXPECT_EQ(ran, 0);
  thread.submit([&] { ++ran; });
  thread.drain();
  EXPECT_EQ(ran, 1);
}

}  // namespace
}  // namespace ringtrain::ddp
